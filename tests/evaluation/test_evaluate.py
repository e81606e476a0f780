"""`motion evaluate` on small models trained on 60 real locomotion clips: every part writes its
figures, the report and the plots; bad options are one line and exit 2."""

import json

import imageio.v2 as imageio
import pytest

from evaluation.cli import main as evaluate
from evaluation.imputation import LEARNING_RATES
from preprocessing.batch import main as preprocess
from training.drmm import main as train_drmm
from training.hgvae import main as train_hgvae

QUICK = ["--segments", "200", "--passes", "2", "--samples", "300", "--depth-iterations", "60",
         "--depth-components", "32", "--seconds", "4", "--seeds", "0", "--windows", "24",
         "--hgvae-depth-epochs", "1"]  # fmt: skip


@pytest.fixture(scope="module")
def models(segments, locomotion_bandai_zip, tmp_path_factory):
    """A 2-layer DRMM (600 iterations) and a content-conditional HG-VAE (3 epochs), with their logs."""
    work = tmp_path_factory.mktemp("models")
    drmm, hgvae = work / "drmm.pt", work / "hgvae.pt"
    arguments = ["--data", str(segments), "--out", str(drmm), "--iterations", "600", "--layers", "2"]
    assert train_drmm([*arguments, "--components", "48", "--no-compile", "--val-size", "256"]) == 0
    assert preprocess([str(locomotion_bandai_zip), "--kind", "windows", "--out", str(work / "data")]) == 0
    arguments = ["--data", str(work / "data" / "windows"), "--out", str(hgvae), "--epochs", "3", "--conditional"]
    arguments += ["--levels", "3", "--features", "32", "--latent-size", "64", "--batch", "64"]
    assert train_hgvae([*arguments, "--kl-warmup-epochs", "1", "--validate-every", "1", "--val-size", "128"]) == 0
    return drmm, hgvae


def test_every_part_writes_figures_a_report_and_plots(models, locomotion_bandai_zip, tmp_path):
    drmm, hgvae = models
    out = tmp_path / "report"
    arguments = ["--data", str(locomotion_bandai_zip), "--drmm", str(drmm), "--hgvae", str(hgvae), "--out", str(out)]
    assert evaluate([*arguments, *QUICK]) == 0
    figures = json.loads((out / "figures.json").read_text())

    quality = figures["drmm"]["sample_quality"]
    assert quality["samples"] == 300 and 0 < quality["precision"] <= 1 and 0 < quality["recall"] <= 1
    assert figures["drmm"]["real_val_vs_test"]["f1"] > quality["f1"] * 0.5
    assert figures["drmm"]["log_likelihood"]["vectors"] == 200
    study = figures["drmm"]["depth_study"]
    assert list(study) == ["1", "2", "4"]
    sizes = [row["parameters"] for row in study.values()]
    assert max(sizes) / min(sizes) < 1.05, "the depth study compares models of equal size"

    playback = figures["playback"]
    assert playback["real"]["clips"] > 0
    assert playback["facing"]["flags_per_minute"] >= 0 and "jerk_m_s3" in playback["facing unspecified"]

    hg = figures["hgvae"]
    rows = {"0.5%", "1%", "5%", "10%", "25%", "50%", "75%", "joint spans", "joint spans + 2%"}
    assert set(hg["imputation"]) == rows
    for row in hg["imputation"].values():  # linear interpolation beats the mean on real motion
        assert row["linear"]["mse_cm2"] < row["mean"]["mse_cm2"]
        assert row["map_learning_rates"]["mean"] in LEARNING_RATES["mean"]
    assert 0 <= hg["ood_auroc"]["10%"] <= 1
    assert list(hg["depth_study"]) == ["1", "2", "4"]

    report = (out / "report.md").read_text()
    for heading in ("## DRMM", "## Playback", "## HG-VAE", "## Learning curves", "6,511"):
        assert heading in report
    for plot in ("learning-curves.png", "imputation.png", "trajectory.png"):
        image = imageio.imread(out / plot)
        assert image.shape[0] > 200 and image.std() > 10, plot

    # A rerun reuses the preprocessed data and the trained study models.
    assert evaluate([*arguments, *QUICK, "--parts", "depth"]) == 0


def test_bad_options_are_one_line_and_exit_2(models, locomotion_bandai_zip, tmp_path, capsys):
    drmm, _ = models
    base = ["--data", str(locomotion_bandai_zip), "--drmm", str(drmm), "--out", str(tmp_path)]
    assert evaluate([*base, "--parts", "drmm,speed"]) == 2
    assert evaluate(["--data", str(tmp_path / "missing.zip")]) == 2
    assert evaluate([*base, "--parts", "drmm", "--samples", "0"]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 3 and all(line.startswith("error: ") for line in errors)
    assert "speed" in errors[0] and "missing.zip" in errors[1] and "--samples" in errors[2]
