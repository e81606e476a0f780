"""The batch gap-filling job (preprocessing.impute_files, `motion impute FOLDER --out DIR`): real clips
with gaps in a folder and a zip, filled in worker processes, written in their own format with every
observed cell kept, scored, summarised, resumed; a bad file costs one line."""

import csv
import os
import zipfile
from dataclasses import replace

import numpy as np
import pytest

from cli.impute import main
from motion.errors import InputError
from motion.formats import read_clips, write_joint_csv
from motion.formats.bvh import read_bvh_file
from preprocessing import ImputeConfig, impute_files
from tests.conftest import BANDAI_SAMPLES


@pytest.fixture
def library(tmp_path, locomotion_bandai_zip):
    """Two real walks with a marker lost for 1.5 s (joint CSV, one in a subfolder), a third inside a zip,
    and a file that is no motion at all."""
    clips = [c for c in read_clips(locomotion_bandai_zip) if c.labels.get("content") == "walk" and c.frames >= 150][:3]
    folder = tmp_path / "library"
    names = [folder / "a.csv", folder / "takes" / "b.csv", tmp_path / "c.csv"]
    for clip, path, joint in zip(clips, names, ("Hand_L", "Foot_R", "Head"), strict=True):
        positions = clip.positions.copy()
        positions[30:75, clip.skeleton.index(joint)] = np.nan
        path.parent.mkdir(parents=True, exist_ok=True)
        write_joint_csv(replace(clip, positions=positions), path)
    with zipfile.ZipFile(folder / "more.zip", "w") as archive:
        archive.write(names[2], "inner/c.csv")
    (folder / "broken.csv").write_text("left_hand_x,left_hand_y\n1,2\n")
    return folder, clips


def test_a_folder_job_fills_every_file_keeps_observed_cells_and_resumes(library, tmp_path, capsys):
    folder, clips = library
    out = tmp_path / "out"
    assert main([str(folder), "--out", str(out), "--workers", "2"]) == 1  # the broken file fails, alone
    printed, errors = capsys.readouterr()
    assert "inputs: 3 filled, 0 already done (skipped), 1 failed" in printed
    assert [line for line in errors.splitlines() if "broken.csv" in line] and "Traceback" not in errors

    outputs = [out / "a.csv", out / "takes" / "b.csv", out / "more" / "inner" / "c.csv"]
    inputs = [folder / "a.csv", folder / "takes" / "b.csv", tmp_path / "c.csv"]
    for given, written, clip in zip(inputs, outputs, clips, strict=True):
        before = [line.split(",") for line in given.read_text().splitlines()]
        after = [line.split(",") for line in written.read_text().splitlines()]
        assert len(before) == len(after) and before[0] == after[0]
        for old, new in zip(before[1:], after[1:], strict=True):
            assert all(o == n for o, n in zip(old, new, strict=True) if o != "")  # observed text verbatim
            assert all(n != "" for n in new)
        error = np.sqrt(np.mean((read_clips(written)[0].positions - clip.positions) ** 2))
        assert error < 0.02, (written, error)  # metres, over all values: only the lost joint moves

    with open(out / "summary.csv") as table:
        rows = list(csv.DictReader(table))
    assert len(rows) == 3 and all(int(row["values_filled"]) == 45 * 3 for row in rows)
    assert all(float(row["score_elbo_per_window"]) > 0 for row in rows)  # walks: in distribution

    assert main([str(folder), "--out", str(out), "--workers", "2"]) == 1
    assert "inputs: 0 filled, 3 already done (skipped), 1 failed" in capsys.readouterr().out
    os.utime(folder / "a.csv", (1e9, 1e9))  # a changed input is redone, the others are not
    assert main([str(folder), "--out", str(out), "--workers", "1"]) == 1
    assert "inputs: 1 filled, 2 already done (skipped), 1 failed" in capsys.readouterr().out
    assert main([str(folder), "--out", str(out), "--method", "linear"]) == 2
    assert "written with other settings (method" in capsys.readouterr().err


def test_the_python_api_fills_with_the_hgvae_and_names_outputs_that_would_collide(library, tmp_path):
    folder, _ = library
    config = ImputeConfig(method="hgvae", fallback_seconds=0.5, steps=2)
    summary = impute_files([folder / "a.csv"], tmp_path / "out", config, workers=1, progress=False)
    assert summary.processed == 1 and summary.filled == 45 * 3 and not summary.failures
    assert np.isfinite(summary.files[0].scores).all()
    both = tmp_path / "both"
    both.mkdir()
    (both / "a.csv").write_bytes((folder / "a.csv").read_bytes())
    with pytest.raises(InputError, match="would both be written to a.csv"):
        impute_files([folder / "a.csv", both / "a.csv"], tmp_path / "o2", workers=1)


def test_a_bvh_library_stays_bvh_with_every_frame_without_a_gap_kept(tmp_path, capsys):
    out = tmp_path / "out"
    assert main([str(BANDAI_SAMPLES / "data"), "--out", str(out), "--no-score"]) == 0
    assert "inputs: 4 filled" in capsys.readouterr().out  # nothing is missing in them: 0 values
    inputs = sorted((BANDAI_SAMPLES / "data").glob("*.bvh"))
    assert sorted(path.name for path in out.glob("*.bvh")) == [path.name for path in inputs]
    for path in inputs:
        given, written = (read_bvh_file(p.read_text(), p.name, p.stem) for p in (path, out / path.name))
        assert written.rows == given.rows
        np.testing.assert_allclose(written.clip.positions, given.clip.positions, atol=1e-5)


def test_outputs_inside_the_input_folder_are_never_read_back_and_a_file_that_breaks_leaves_the_summary(library, capsys):
    folder, _ = library
    out = folder / "cleaned"
    assert main([str(folder), "--out", str(out), "--no-score", "--workers", "1"]) == 1  # broken.csv
    assert main([str(folder), "--out", str(out), "--no-score", "--workers", "1"]) == 1
    assert "inputs: 0 filled, 3 already done (skipped), 1 failed" in capsys.readouterr().out
    assert not (out / "cleaned").exists()
    (folder / "a.csv").write_text("not,motion\n1,2\n")  # a file filled before, broken now
    assert main([str(folder), "--out", str(out), "--no-score", "--workers", "1"]) == 1
    assert "inputs: 0 filled, 2 already done (skipped), 2 failed" in capsys.readouterr().out
    with open(out / "summary.csv") as table:
        assert [row["output"] for row in csv.DictReader(table)] == ["more/inner/c.csv", "takes/b.csv"]
