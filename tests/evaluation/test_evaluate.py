"""`motion evaluate` on small models trained on 60 real locomotion clips: every part writes its
figures, the report and the plots; bad options are one line and exit 2."""

import json
import math

import imageio.v2 as imageio
import numpy as np
import pytest
import torch

from cli.evaluate import main as evaluate
from evaluation.gap_filling import FALLBACK_CANDIDATES, PATTERNS
from evaluation.imputation import LEARNING_RATES, auroc, ood_auroc, window_labels
from evaluation.takes import median_figures, takes
from motion.assets import HGVAE_MODEL
from motion.dataset import load_dataset
from motion.models import DRMM, HGVAE
from playback.flags import COURSE, parse_flags
from playback.loop import PlaybackConfig
from training import DataSelection, DRMMTraining, HGVAETraining, TrainConfig, train_drmm, train_hgvae

QUICK = ["--segments", "200", "--passes", "2", "--samples", "300", "--depth-iterations", "60",
         "--depth-components", "32", "--seconds", "4", "--seeds", "0", "--windows", "24",
         "--hgvae-depth-epochs", "1", "--fill-clips", "4"]  # fmt: skip


@pytest.fixture(scope="module")
def models(segments, windows, tmp_path_factory):
    """A 2-layer DRMM (600 iterations) and a content-conditional HG-VAE (3 epochs), with their logs."""
    work = tmp_path_factory.mktemp("models")
    drmm, hgvae = work / "drmm.pt", work / "hgvae.pt"
    schedule = TrainConfig(iterations=600, compile=False)
    train_drmm(segments, drmm, DRMMTraining(layers=2, components=48, schedule=schedule), DataSelection(val_size=256))
    config = HGVAETraining(
        levels=3,
        features=32,
        latent_size=64,
        batch=64,
        epochs=3,
        kl_warmup_epochs=1,
        validate_every=1,
        conditional=True,
    )
    train_hgvae(windows, hgvae, config, DataSelection(val_size=128))
    return drmm, hgvae


def test_every_part_writes_figures_a_report_and_plots(models, locomotion_bandai_zip, tmp_path):
    drmm, hgvae = models
    out = tmp_path / "report"
    arguments = ["--data", str(locomotion_bandai_zip), "--drmm", str(drmm), "--hgvae", str(hgvae), "--out", str(out)]
    assert evaluate([*arguments, *QUICK]) == 0
    figures = json.loads((out / "figures.json").read_text())

    quality = figures["drmm"]["sample_quality"]
    assert quality["samples"] == 300 and quality["k"] == 3
    assert figures["drmm"]["real_val_vs_test"]["f1"] > quality["f1"] * 0.5
    assert figures["drmm"]["log_likelihood"]["vectors"] == 200
    study = figures["drmm"]["depth_study"]
    assert list(study) == ["1", "2", "4"]
    sizes = [row["parameters"] for row in study.values()]
    assert max(sizes) / min(sizes) < 1.05, "the depth study compares models of equal size"

    playback = figures["playback"]
    assert playback["real"]["clips"] == 6  # the test split of the 60 shipped clips: every 10th
    # The figures are those of the takes the Python API generates with the default settings and seed 0.
    for mode, facing in (("facing", True), ("facing unspecified", False)):
        rows, _ = takes(DRMM.load(drmm), PlaybackConfig(facing=facing), [0], 4.0, parse_flags(COURSE))
        expected = median_figures(rows)
        for key in ("flags_per_minute", "facing_error_deg", "foot_skating_m_s", "jerk_m_s3"):
            assert playback[mode][key] == pytest.approx(expected[key], nan_ok=True), (mode, key)

    hg = figures["hgvae"]
    rows = {"0.5%", "1%", "5%", "10%", "25%", "50%", "75%", "joint spans", "joint spans + 2%"}
    assert set(hg["imputation"]) == rows
    for row in hg["imputation"].values():  # linear interpolation beats the mean on real motion
        assert row["linear"]["mse_cm2"] < row["mean"]["mse_cm2"]
        assert row["map_learning_rates"]["mean"] in LEARNING_RATES["mean"]
    # The AUROC is that of the model's ELBO on the test split the evaluation preprocessed (this 3-epoch
    # model is too coarse to tell damaged windows from clean ones; the shipped one does, below).
    model = HGVAE.load(hgvae)
    test = load_dataset(out / "data" / "hgvae" / "windows", split="test")
    windows = torch.from_numpy(test.features).reshape(-1, *model.window_shape)
    labels = window_labels(model, test, np.arange(len(test)))
    assert hg["ood_auroc"] == pytest.approx(ood_auroc(model, windows, labels))
    assert list(hg["depth_study"]) == ["1", "2", "4"]

    fills = figures["fills"]["test"]
    assert fills["val_clips"] == 4 and fills["joints 1 s"]["clips"] == 4
    assert fills["fallback"]["seconds"] in (*FALLBACK_CANDIDATES, math.inf)
    assert set(fills) >= set(PATTERNS)
    assert fills["joints 1 s"]["kinematic"]["mse_cm2"] < fills["joints 1 s"]["linear"]["mse_cm2"]

    report = (out / "report.md").read_text()
    for heading in ("## DRMM", "## Playback", "## HG-VAE", "## Gap filling", "## Learning curves", "6,511"):
        assert heading in report
    for plot in ("learning-curves.png", "imputation.png", "trajectory.png", "fills.png"):
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


def test_auroc_is_the_share_of_pairs_a_clean_window_scores_higher_ties_half():
    assert auroc(torch.tensor([3.0, 4.0]), torch.tensor([1.0, 2.0])) == 1.0
    assert auroc(torch.tensor([1.0, 2.0]), torch.tensor([3.0, 4.0])) == 0.0
    assert auroc(torch.tensor([1.0, 3.0]), torch.tensor([2.0, 2.0])) == 0.5
    assert auroc(torch.tensor([2.0]), torch.tensor([2.0, 1.0, 3.0])) == 0.5  # one tie, one win, one loss


def test_the_shipped_hgvaes_elbo_tells_damaged_windows_from_clean_ones(windows):
    """Real windows of the shipped clips, clean against 1 % and 10 % of their entries mean-imputed."""
    model = HGVAE.load(HGVAE_MODEL)
    data = load_dataset(windows)
    rows = np.random.default_rng(0).permutation(len(data))[:400]
    clean = torch.from_numpy(data.features[rows]).reshape(-1, *model.window_shape)
    figures = ood_auroc(model, clean, window_labels(model, data, rows))
    assert figures["10%"] > 0.98 and figures["1%"] > 0.7, figures  # 0.996 and 0.887 on the archive's test split
