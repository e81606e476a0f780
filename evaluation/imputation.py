"""HG-VAE figures on windows: ELBO, reconstruction and KL (Table 1) and its depth study, imputation
against the mean and linear-interpolation baselines (Fig. 4, App. B), and out-of-distribution AUROC.

Windows are (N, frames, joints, 3) float32 metres in each window's own frame, as
`load_dataset(kind="windows")` gives them after reshaping. MAP learning rates are picked on val
windows, never on the windows a figure is reported for.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from motion.dataset import Dataset
from motion.errors import InputError
from motion.gaps import interpolate_gaps, random_mask, span_mask
from motion.models.hgvae import HGVAE

log = logging.getLogger(__name__)

RATES = (0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75)  # fractions of coordinate-frame entries occluded
LEARNING_RATES = (0.001, 0.003, 0.01, 0.03, 0.1)  # MAP step sizes tried on val windows, metres
STARTS = {"mean": "map_from_mean", "interpolate": "map_from_linear"}  # MAP start -> figure key


def errors(estimate: Tensor, truth: Tensor, mask: Tensor) -> dict[str, float]:
    """MSE over occluded entries (cm^2) and MPJPE over joint-frames with an occluded coordinate (mm)."""
    squared = (estimate - truth).square()
    points = mask.any(-1)
    return {
        "mse_cm2": 1e4 * squared[mask].mean().item(),
        "mpjpe_mm": 1e3 * squared.sum(-1).sqrt()[points].mean().item(),
    }


def interpolated(model: HGVAE, occluded: Tensor, mask: Tensor) -> Tensor:
    """Linear interpolation in time; entries never observed in a window take the training mean."""
    flat = occluded.reshape(len(occluded), model.config.frames, -1)
    hole = mask.reshape(flat.shape)
    return interpolate_gaps(flat, hole, fallback=model.data_mean).reshape(occluded.shape)


def mean_filled(model: HGVAE, occluded: Tensor, mask: Tensor) -> Tensor:
    """Mean imputation: each occluded entry takes the training-set mean of that entry."""
    return torch.where(mask, model.data_mean.reshape(model.window_shape), occluded)


def auroc(clean: Tensor, degraded: Tensor) -> float:
    """P(score of a clean window > score of a degraded one), ties counting half (Mann-Whitney)."""
    scores = torch.cat([clean, degraded]).double()
    ranks = torch.empty_like(scores)
    order = scores.argsort()
    ranks[order] = torch.arange(1, len(scores) + 1, dtype=torch.double)
    for value in scores.unique():  # average ranks of ties
        tied = scores == value
        ranks[tied] = ranks[tied].mean()
    clean_ranks = ranks[: len(clean)].sum() - len(clean) * (len(clean) + 1) / 2
    return (clean_ranks / (len(clean) * len(degraded))).item()


@torch.no_grad()
def elbo_figures(model: HGVAE, windows: Tensor, labels: Tensor | None = None) -> dict[str, float]:
    """Mean ELBO (posterior means), reconstruction MSE (cm^2) and KL per window (nats)."""
    elbo, mse, kl = [], [], []
    for first in range(0, len(windows), 800):
        part = windows[first : first + 800]
        terms = model(part, None if labels is None else labels[first : first + 800], sample=False)
        elbo.append(terms.elbo)
        kl.append(terms.kl.sum(-1))
        mse.append((terms.mean - part).square().flatten(1).mean(1))
    return {
        "elbo": torch.cat(elbo).mean().item(),
        "mse_cm2": 1e4 * torch.cat(mse).mean().item(),
        "kl": torch.cat(kl).mean().item(),
    }


def pick_learning_rate(model: HGVAE, windows: Tensor, start: str, labels: Tensor | None = None) -> float:
    """The MAP learning rate with the lowest MSE on (val) windows at 10 % occlusion."""
    mask = random_mask(windows.shape, 0.1, torch.Generator().manual_seed(1))
    occluded = torch.where(mask, torch.nan, windows)
    scores = {}
    for lr in LEARNING_RATES:
        result = model.impute(occluded, mask, labels, steps=10, lr=lr, start=start)
        scores[lr] = errors(result.windows, windows, mask)["mse_cm2"]
    return min(scores, key=scores.get)


def imputation_figures(
    model: HGVAE, windows: Tensor, rates: dict[str, float], labels: Tensor | None = None, steps: int = 10
) -> dict[str, dict]:
    """Errors of mean imputation, linear interpolation and MAP from both starts, per occlusion.

    Args:
        rates: MAP learning rate per start ("mean", "interpolate"), e.g. from pick_learning_rate.
    Returns:
        {"0.5%": row, ..., "75%": row, "joint spans": row}; each row holds the occluded fraction
        and, per method, errors() (MAP rows add the mean ELBO before and after).
    """
    generator = torch.Generator().manual_seed(0)
    masks = {f"{100 * rate:g}%": random_mask(windows.shape, rate, generator) for rate in RATES}
    masks["joint spans"] = span_mask(windows.shape, generator)
    figures = {}
    for name, mask in masks.items():
        occluded = torch.where(mask, torch.nan, windows)
        row = {
            "occluded_fraction": mask.float().mean().item(),
            "mean": errors(mean_filled(model, occluded, mask), windows, mask),
            "linear": errors(interpolated(model, occluded, mask), windows, mask),
        }
        for start, key in STARTS.items():
            result = model.impute(occluded, mask, labels, steps=steps, lr=rates[start], start=start)
            row[key] = errors(result.windows, windows, mask) | {
                "elbo_before": result.elbo_before.mean().item(),
                "elbo_after": result.elbo_after.mean().item(),
            }
        figures[name] = row
        log.info("imputation %s: %s", name, row)
    return figures


def mse_reduction(figures: dict[str, dict]) -> dict[str, float]:
    """Mean and sd over the random-occlusion rates of 1 - MSE(MAP from mean) / MSE(mean imputation)."""
    reductions = torch.tensor(
        [1 - row["map_from_mean"]["mse_cm2"] / row["mean"]["mse_cm2"] for name, row in figures.items() if "%" in name]
    )
    return {"mean": reductions.mean().item(), "sd": reductions.std(unbiased=False).item()}


@torch.no_grad()
def ood_auroc(model: HGVAE, windows: Tensor, labels: Tensor | None = None) -> dict[str, float]:
    """AUROC of the ELBO separating clean windows from the same windows with 1 % and 10 % of
    their entries occluded and mean-imputed."""
    clean = model.elbo(windows, labels)
    figures = {}
    for rate in (0.01, 0.1):
        mask = random_mask(windows.shape, rate, torch.Generator().manual_seed(2))
        figures[f"{100 * rate:g}%"] = auroc(clean, model.elbo(mean_filled(model, windows, mask), labels))
    return figures


def window_labels(data: Dataset, indices: np.ndarray, payload: dict) -> Tensor | None:
    """Class indices of the windows `indices` for a class-conditional HG-VAE (its checkpoint
    `payload` names the classes), else None."""
    from training.hgvae import label_indices

    names = payload.get("labels") or []
    if not names:
        return None
    return torch.from_numpy(label_indices(data.content[indices], names, "evaluation windows"))


def depth_study(
    windows: Path, work: Path, test: Tensor, epochs: int, device: str, depths=(1, 2, 4), features: int = 64
) -> dict[int, dict]:
    """Table 1 at a small budget: unconditional HG-VAEs of equal architecture (F = `features`) but
    stochastic depth 1, 2, 4, trained `epochs` epochs on the train split of `windows` into `work`
    (reused when there), measured by elbo_figures() on `test`."""
    from training.hgvae import main as train

    study = {}
    for depth in depths:
        checkpoint = work / f"hgvae-depth{depth}.pt"
        arguments = ["--data", str(windows), "--out", str(checkpoint), "--stochastic-depth", str(depth)]
        arguments += ["--features", str(features), "--batch", "256", "--epochs", str(epochs)]
        arguments += ["--kl-warmup-epochs", str(epochs / 5), "--validate-every", str(epochs), "--device", device]
        if train(arguments + (["--resume"] if checkpoint.exists() else [])) != 0:
            raise InputError(f"{windows}: training the depth-{depth} HG-VAE of the study failed")
        model, _ = HGVAE.load(checkpoint, device)
        study[depth] = elbo_figures(model, test)
    return study
