import json
import os
import shutil

import numpy as np
import pytest

from cli.preprocess import main
from motion.dataset import load_dataset
from motion.formats import list_sources
from motion.splits import assign_splits
from preprocessing import PreprocessConfig, preprocess
from tests.conftest import BANDAI_SAMPLES, DATA, SAMPLE_CLIPS


@pytest.fixture
def inputs(tmp_path):
    """The shipped single clips: four Bandai BVH files and a two-take LaForge CSV."""
    folder = tmp_path / "in"
    shutil.copytree(BANDAI_SAMPLES, folder / "bandai")
    shutil.copytree(SAMPLE_CLIPS / "laforge", folder / "laforge")
    return folder


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_sample_clips_to_parquet_then_resume_skips_everything(inputs, tmp_path, capsys):
    out = tmp_path / "out"
    code, stdout, _ = run(capsys, inputs, "--out", out, "--workers", "1")
    assert code == 0
    assert "inputs: 5 processed, 0 already done (skipped), 0 failed" in stdout
    assert "clips: 6  frames: 930" in stdout
    segments, windows = load_dataset(out / "segments"), load_dataset(out / "windows")
    assert segments.features.shape[1] == 487 and windows.features.shape[1] == 3000
    assert f"segments: {len(segments):,}" in stdout and f"windows: {len(windows):,}" in stdout
    assert set(segments.content) == {"walk", "walk-turn-left", "run", "wave-right-hand", None}
    assert segments.metadata["version"] and len(segments.metadata["sources"]) == 5
    assert np.isfinite(segments.features).all()
    parts = sorted(p.name for p in (out / "segments").iterdir())

    code, stdout, _ = run(capsys, inputs, "--out", out, "--workers", "1")
    assert code == 0 and "inputs: 0 processed, 5 already done (skipped)" in stdout
    assert sorted(p.name for p in (out / "segments").iterdir()) == parts


def test_changed_input_is_redone_and_its_part_replaced(inputs, tmp_path, capsys):
    out = tmp_path / "out"
    assert run(capsys, inputs, "--out", out, "--workers", "1", "--kind", "segments")[0] == 0
    rows = len(load_dataset(out))
    changed = inputs / "bandai" / "data" / "dataset-2_run_normal_033.bvh"
    os.utime(changed, (1e9, 1e9))
    code, stdout, _ = run(capsys, inputs, "--out", out, "--workers", "1", "--kind", "segments")
    assert code == 0 and "already done" in stdout and "0 failed" in stdout
    assert len(load_dataset(out)) == rows
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["inputs"][str(changed)]["key"][1] == 1e9


def test_bad_file_is_one_line_others_still_written(inputs, tmp_path, capsys):
    bad = inputs / "broken.bvh"
    bad.write_text((DATA / "translation_channels.bvh").read_text().replace("0 100 0 0 0 90", "0 100 0 0 0 x"))
    out = tmp_path / "out"
    code, stdout, stderr = run(capsys, inputs, "--out", out, "--workers", "1")
    assert code == 1
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {bad}:30: channel value 6 is 'x', not a number"]
    assert "Traceback" not in stderr
    assert "inputs: 5 processed, 0 already done (skipped), 1 failed" in stdout
    assert len(load_dataset(out)) > 0

    bad.unlink()  # the set of clips changes, so splits may move: parts holding a moved clip are redone
    code, stdout, _ = run(capsys, inputs, "--out", out, "--workers", "1")
    assert code == 0 and "0 failed" in stdout
    data = load_dataset(out)
    expected = assign_splits(source.stem for source in list_sources([inputs]))  # takes share their file's split
    assert all(split == expected[clip.rsplit("_take", 1)[0]] for clip, split in zip(data.clip, data.split))


def test_strict_stops_at_first_bad_input(inputs, tmp_path, capsys):
    (inputs / "aaa.csv").write_text("time,a_x,a_y,a_z\n0,1,2,3\n0.1,1,2,3\n")  # a skeleton no preset matches
    code, _, stderr = run(capsys, inputs, "--out", tmp_path / "out", "--workers", "1", "--strict")
    assert code == 1 and "matches no preset; pass --joint-map FILE.json" in stderr


def test_other_settings_in_the_same_folder_are_refused(inputs, tmp_path, capsys):
    out = tmp_path / "out"
    assert run(capsys, inputs, "--out", out, "--workers", "1", "--kind", "segments")[0] == 0
    code, _, stderr = run(capsys, inputs, "--out", out, "--workers", "1", "--kind", "segments", "--segment-stride", "2")
    assert code == 2 and "segment_stride: 1, now 2" in stderr and "Traceback" not in stderr
    code, stdout, _ = run(capsys, inputs, "--out", out, "--kind", "segments", "--segment-stride", "2", "--overwrite")
    assert code == 0 and "5 processed" in stdout


def test_user_joint_map_for_an_unknown_skeleton(tmp_path, capsys):
    joints = json.loads((SAMPLE_CLIPS.parent / "skeletons" / "laforge20.json").read_text())["joints"]
    header = ",".join(f"J{i}_{a}" for i in range(20) for a in "xyz")
    positions = np.random.default_rng(0).normal(size=(45, 20, 3)) * 0.1 + [0, 0, 1]
    positions[:, 8] = [0, 0.2, 1.4]  # left shoulder: facing +x
    positions[:, 14] = [0, -0.2, 1.4]
    path = tmp_path / "rig.csv"
    path.write_text(header + "\n" + "\n".join(",".join(f"{v:g}" for v in frame.ravel()) for frame in positions) + "\n")
    joint_map = tmp_path / "map.json"
    joint_map.write_text(json.dumps({"target": "laforge20", "joints": {j: f"J{i}" for i, j in enumerate(joints)}}))
    code, stdout, _ = run(
        capsys, path, "--out", tmp_path / "out", "--fps", 30, "--joint-map", joint_map, "--workers", "1"
    )
    assert code == 0 and "segments: 6 " in stdout


def test_parallel_workers_on_real_clips_in_a_zip(small_bandai_zip, tmp_path, capsys):
    code, stdout, _ = run(capsys, small_bandai_zip, "--out", tmp_path / "out", "--workers", 2)
    assert code == 0 and "inputs: 8 processed" in stdout
    data = load_dataset(tmp_path / "out" / "segments")
    assert set(data.content) == {"walk", "walk-turn-left", "walk-turn-right", "run"}
    # Sorted, '-' comes before '_': run 1-2, walk-turn-left 1-2, walk-turn-right 1-2, walk 1-2.
    assert sorted(set(data.clip[data.split == "test"])) == ["dataset-2_run_normal_001"]
    assert sorted(set(data.clip[data.split == "val"])) == ["dataset-2_walk-turn-right_normal_002"]


def test_unknown_path_and_help(tmp_path, capsys):
    code, _, stderr = run(capsys, tmp_path / "missing", "--out", tmp_path / "out")
    assert code == 2 and stderr.strip() == f"error: {tmp_path / 'missing'}: no such file or folder"
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0 and "--workers" in capsys.readouterr().out


def test_every_part_on_disk_is_recorded_after_a_strict_stop(small_bandai_zip, tmp_path, capsys):
    bad = tmp_path / "in" / "zz_broken.bvh"
    bad.parent.mkdir()
    bad.write_text((DATA / "translation_channels.bvh").read_text().replace("MOTION", "MOTON"))
    out = tmp_path / "out"
    code, _, stderr = run(capsys, small_bandai_zip, bad.parent, "--out", out, "--workers", 2, "--strict")
    assert code == 1 and "zz_broken.bvh: no MOTION section" in stderr
    recorded = {entry["part"] for entry in json.loads((out / "manifest.json").read_text())["inputs"].values()}
    on_disk = {path.name for kind in ("segments", "windows") for path in (out / kind).glob("*")}
    assert on_disk <= recorded


def test_the_python_api_gives_the_commands_datasets_and_summary(inputs, tmp_path, capsys):
    summary = preprocess([inputs], tmp_path / "api", PreprocessConfig(kinds=("segments",)), workers=1, progress=False)
    assert (summary.processed, summary.skipped, summary.failures, summary.clips, summary.frames) == (5, 0, (), 6, 930)
    data = load_dataset(summary.datasets["segments"])
    assert sum(summary.rows["segments"].values()) == len(data)
    assert summary.rows["segments"]["test"] == int((data.split == "test").sum()) > 0
    code, stdout, _ = run(capsys, inputs, "--out", tmp_path / "cli", "--kind", "segments", "--workers", "1")
    assert code == 0 and stdout.startswith(summary.report())
    np.testing.assert_array_equal(load_dataset(tmp_path / "cli" / "segments").features, data.features)


def test_every_shipped_clip_preprocesses_together(tmp_path):
    """The single clips and the 60-clip zip: no clip twice, so every name (and split) is unique."""
    summary = preprocess([SAMPLE_CLIPS], tmp_path, PreprocessConfig(kinds=("windows",)), workers=2, progress=False)
    assert (summary.processed, summary.failures, summary.clips) == (65, (), 66)
