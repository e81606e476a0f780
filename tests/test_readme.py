"""The README's Python examples run as written, in order, in an empty folder (they share its files)."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
EXAMPLES = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_the_readme_has_python_examples_of_the_three_jobs():
    text = "\n".join(EXAMPLES)
    assert len(EXAMPLES) >= 5
    for call in ("preprocess(", "train_drmm(", "Playback.from_checkpoint(", "impute_clip(", "model.sample("):
        assert call in text, call


def test_every_example_runs_as_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for number, example in enumerate(EXAMPLES, 1):
        namespace: dict = {}
        try:
            exec(compile(example, f"README.md example {number}", "exec"), namespace)
        except Exception as err:  # noqa: BLE001 - say which example failed
            pytest.fail(f"README example {number} raised {type(err).__name__}: {err}")
    assert (tmp_path / "data" / "sample" / "segments").is_dir() and (tmp_path / "runs" / "sample.pt").is_file()
