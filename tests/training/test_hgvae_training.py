"""Training a small HG-VAE on real windows: learning, class-conditional generation, imputation,
and `motion impute` on a real clip with gaps."""

import csv
from dataclasses import replace

import numpy as np
import pytest
import torch

from cli.impute import main as impute
from cli.train import main as train_main
from motion.dataset import load_dataset
from motion.errors import InputError
from motion.formats import read_clips, write_joint_csv
from motion.impute import impute_clip
from motion.models import HGVAE

SMALL = ["--levels", "3", "--features", "32", "--latent-size", "64", "--batch", "64"]


@pytest.fixture(scope="module")
def conditional(windows, tmp_path_factory):
    """A class-conditional model trained on walk, run and the turns for 40 epochs (~30 s), with `motion train hgvae`."""
    checkpoint = tmp_path_factory.mktemp("hgvae") / "hgvae.pt"
    args = ["hgvae", "--data", str(windows), "--out", str(checkpoint), "--epochs", "40", "--kl-warmup-epochs", "10"]
    arguments = [*args, *SMALL, "--lr", "3e-3", "--conditional", "--validate-every", "8", "--val-size", "256"]
    assert train_main(arguments) == 0
    return checkpoint


def read_log(path):
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


def test_training_raises_the_validation_elbo(conditional):
    rows = [row for row in read_log(f"{conditional}.csv") if row["val_elbo"]]
    elbo = [float(row["val_elbo"]) for row in rows]
    mse = [float(row["val_mse_cm2"]) for row in rows]
    assert len(rows) == 5 and elbo[-1] > elbo[0] + 300 and mse[-1] < mse[0], (elbo, mse)  # seeded: +756
    assert float(rows[-1]["kl_weight"]) == 1.0


def test_class_conditional_samples_differ_by_class_and_the_label_matches_the_data(conditional, windows):
    model = HGVAE.load(conditional)
    names = list(model.metadata.labels)
    assert names == ["run", "walk", "walk-turn-left", "walk-turn-right"]

    def samples(label):  # the same noise for every class, so only the label differs
        return model.generate(256, label=label, generator=torch.Generator().manual_seed(0))

    # Running covers ~3x the ground of walking in 2 s: the label moves the whole window (seeded: 0.14 m).
    assert (samples(names.index("run")) - samples(names.index("walk"))).abs().mean() > 0.05

    # The true label explains a real test window better than the others do on average, and
    # picking the label of highest ELBO beats always guessing the commonest class (seeded: a gain of
    # 113 nats, accuracy 0.67 against 0.34; which label carries which detail, e.g. the turn
    # direction, varies with the seed).
    test = load_dataset(windows, split="test")
    x = torch.from_numpy(test.features).reshape(-1, *model.window_shape)
    truth = torch.tensor([names.index(c) for c in test.content])
    elbo = torch.stack([model.elbo(x, torch.full((len(x),), label)) for label in range(len(names))], dim=1)
    gain = (elbo.gather(1, truth[:, None])[:, 0] - elbo.mean(1)).mean().item()
    accuracy = (elbo.argmax(1) == truth).float().mean().item()
    majority = torch.bincount(truth).max().item() / len(truth)
    assert gain > 20 and accuracy > majority, (gain, accuracy, majority)


def test_imputation_keeps_observed_values_and_beats_mean_imputation_on_real_windows(conditional, windows):
    model = HGVAE.load(conditional)
    test = load_dataset(windows, split="test")
    x = torch.from_numpy(test.features).reshape(-1, *model.window_shape)[:200]
    labels = torch.from_numpy(model.metadata.label_indices(test.content[:200], "test windows"))
    missing = torch.rand(x.shape, generator=torch.Generator().manual_seed(0)) < 0.1
    occluded = torch.where(missing, torch.nan, x)
    mean = model.data_mean.reshape(model.window_shape).expand_as(x)
    result = model.impute(occluded, missing, labels, steps=10, lr=0.3, start="mean")
    assert torch.equal(result.windows[~missing], x[~missing])
    mean_error = (mean[missing] - x[missing]).square().mean()
    map_error = (result.windows[missing] - x[missing]).square().mean()
    assert map_error < 0.4 * mean_error, (map_error, mean_error)  # seeded: 0.24
    assert (result.elbo_after >= result.elbo_before).all() and result.elbo_after.mean() > result.elbo_before.mean()


def test_motion_impute_fills_a_real_clip_and_keeps_observed_cells_verbatim(
    conditional, locomotion_bandai_zip, tmp_path, capsys
):
    clip = next(c for c in read_clips(locomotion_bandai_zip) if c.labels.get("content") == "walk")
    positions = clip.positions.copy()
    rng = np.random.default_rng(0)
    positions[rng.random(positions.shape) < 0.05] = np.nan
    positions[40:70, clip.skeleton.index("Hand_L")] = np.nan  # a marker lost for a second
    gappy = tmp_path / "gappy.csv"
    write_joint_csv(replace(clip, positions=positions), gappy)
    classical = tmp_path / "classical.csv"
    assert impute([str(gappy), "--out", str(classical)]) == 0  # the default: the donor fill, no model
    assert "(donor)" in capsys.readouterr().out
    out = tmp_path / "filled.csv"
    assert (
        impute([str(gappy), "--method", "hgvae", "--model", str(conditional), "--out", str(out), "--label", "walk"])
        == 0
    )
    printed = capsys.readouterr().out
    assert "filled" in printed and "ELBO per window" in printed

    before = [line.split(",") for line in gappy.read_text().splitlines()]
    after = [line.split(",") for line in out.read_text().splitlines()]
    assert len(before) == len(after) and before[0] == after[0]
    covered = [i for i, title in enumerate(before[0]) if not title.startswith(("joint_Root", "Chest"))]
    for old, new in zip(before[1:], after[1:], strict=True):
        assert all(o == n for o, n in zip(old, new, strict=True) if o != "")
        assert all(new[i] != "" for i in covered)
    filled = read_clips(out)[0].positions
    hole = np.isnan(positions)
    hole[:, [clip.skeleton.index("joint_Root"), clip.skeleton.index("Chest")]] = False
    error = np.sqrt(np.mean((filled[hole] - clip.positions[hole]) ** 2))
    assert error < 0.1, error  # metres
    by_classical = read_clips(classical)[0].positions
    assert np.isfinite(by_classical).all()  # a classical fill fills every joint of the clip's own skeleton
    error = np.sqrt(np.mean((by_classical[hole] - clip.positions[hole]) ** 2))
    assert error < 0.1, error


def test_motion_impute_reports_bad_input_in_one_line(conditional, locomotion_bandai_zip, tmp_path, capsys):
    clip = read_clips(locomotion_bandai_zip)[0]
    path = tmp_path / "clip.csv"
    write_joint_csv(clip, path)
    mask = tmp_path / "mask.npy"
    np.save(mask, np.zeros((clip.frames + 1, len(clip.skeleton)), bool))
    args = [
        str(path),
        "--method",
        "hgvae",
        "--model",
        str(conditional),
        "--out",
        str(tmp_path / "o.csv"),
        "--label",
        "walk",
    ]
    assert impute([*args, "--mask", str(mask)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "mask.npy" in error and "shape" in error
    assert not (tmp_path / "o.csv").exists()
    assert impute([str(path), "--method", "hgvae", "--model", str(path), "--out", str(tmp_path / "o.csv")]) == 2
    assert "not a readable checkpoint" in capsys.readouterr().err


def test_impute_clip_needs_no_label_and_the_model_knows_its_labels(conditional, locomotion_bandai_zip):
    model = HGVAE.load(conditional)
    clip = next(c for c in read_clips(locomotion_bandai_zip) if c.labels.get("content") == "run")
    positions = clip.positions.copy()
    positions[20:45, clip.skeleton.index("Foot_R")] = np.nan
    gappy = replace(clip, positions=positions, labels={})  # a take nobody labelled
    chosen = impute_clip(model, gappy, fallback_seconds=0)  # the missing entries are the NaNs
    assert chosen.filled.sum() == 25 * 3 and not np.isnan(chosen.positions[:, clip.skeleton.index("Foot_R")]).any()
    assert len(chosen.labels) == chosen.windows and set(chosen.labels) <= set(model.metadata.labels)
    # Each window takes the label under which its start is likeliest, so no one label starts likelier.
    named = {label: impute_clip(model, gappy, label=label, fallback_seconds=0) for label in model.metadata.labels}
    assert chosen.elbo_before >= max(result.elbo_before for result in named.values()) - 1e-3
    assert not np.array_equal(named["run"].positions, named["walk"].positions)  # the label conditions the fill
    with pytest.raises(InputError, match="label 'swim': the model knows run, walk, walk-turn-left, walk-turn-right"):
        impute_clip(model, gappy, label="swim")
