"""HG-VAE figures on windows: ELBO, reconstruction and KL (Table 1) and its depth study, imputation
against the mean and linear-interpolation baselines (Fig. 4, App. B), and out-of-distribution AUROC.

Windows are (N, frames, joints, 3) float32 metres in each window's own frame, as
`load_dataset(kind="windows")` gives them after reshaping. MAP learning rates are picked on val
windows occluded like the test windows of each figure, never on those.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from motion.dataset import Dataset
from motion.gaps import interpolate_gaps, random_mask, span_mask
from motion.models.hgvae import HGVAE

log = logging.getLogger(__name__)

RATES = (0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75)  # fractions of coordinate-frame entries occluded
SCATTERED = 0.02  # fraction of values lost one by one on top of joint spans (the mixed pattern, the demo's gaps)
STARTS = {"mean": "map_from_mean", "interpolate": "map_from_linear"}  # MAP start -> figure key
# MAP step sizes tried on val windows per start, in standard deviations of each entry: a start
# from the mean is about one standard deviation off, one from an interpolation millimetres
# (scattered values) to decimetres (joints lost over spans) off.
LEARNING_RATES = {"mean": (0.1, 0.2, 0.3, 0.5), "interpolate": (0.001, 0.01, 0.03, 0.1, 0.2)}


def rate_name(rate: float) -> str:
    """The figure key of a random-occlusion rate: 0.005 -> "0.5%"."""
    return f"{100 * rate:g}%"


def occlusion_masks(shape: tuple[int, ...], generator: torch.Generator) -> dict[str, Tensor]:
    """The occlusion patterns of the figures, each (N, T, J, 3) bool: entries at random at each
    rate of RATES, whole joints over spans of 10-40 frames ("joint spans", how mocap loses
    markers), and those spans with SCATTERED of the values lost one by one as well."""
    masks = {rate_name(rate): random_mask(shape, rate, generator) for rate in RATES}
    masks["joint spans"] = span_mask(shape, generator)
    masks[f"joint spans + {rate_name(SCATTERED)}"] = span_mask(shape, generator) | random_mask(
        shape, SCATTERED, generator
    )
    return masks


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


def pick_learning_rate(
    model: HGVAE, windows: Tensor, mask: Tensor, start: str, labels: Tensor | None = None, steps: int = 10
) -> float:
    """The MAP learning rate from LEARNING_RATES[start] with the lowest MSE on (val) `windows`
    with `mask` occluded: the best step size depends on how far the start is from the truth."""
    occluded = torch.where(mask, torch.nan, windows)

    def mse(lr: float) -> float:
        result = model.impute(occluded, mask, labels, steps=steps, lr=lr, start=start)
        return errors(result.windows, windows, mask)["mse_cm2"]

    return min(LEARNING_RATES[start], key=mse)


def imputation_figures(
    model: HGVAE,
    windows: Tensor,
    val: Tensor,
    labels: Tensor | None = None,
    val_labels: Tensor | None = None,
    steps: int = 10,
) -> dict[str, dict]:
    """Errors of mean imputation, linear interpolation and MAP from both starts, per occlusion
    pattern (occlusion_masks); each MAP learning rate is picked on `val` windows occluded alike.

    Returns:
        {"0.5%": row, ..., "75%": row, "joint spans": row, ...}; each row holds the occluded
        fraction, the picked learning rates and, per method, errors() (MAP rows add the mean
        ELBO before and after).
    """
    masks = occlusion_masks(windows.shape, torch.Generator().manual_seed(0))
    val_masks = occlusion_masks(val.shape, torch.Generator().manual_seed(1))
    figures = {}
    for name, mask in masks.items():
        occluded = torch.where(mask, torch.nan, windows)
        row = {
            "occluded_fraction": mask.float().mean().item(),
            "map_learning_rates": {
                start: pick_learning_rate(model, val, val_masks[name], start, val_labels, steps) for start in STARTS
            },
            "mean": errors(mean_filled(model, occluded, mask), windows, mask),
            "linear": errors(interpolated(model, occluded, mask), windows, mask),
        }
        for start, key in STARTS.items():
            lr = row["map_learning_rates"][start]
            result = model.impute(occluded, mask, labels, steps=steps, lr=lr, start=start)
            row[key] = errors(result.windows, windows, mask) | {
                "elbo_before": result.elbo_before.mean().item(),
                "elbo_after": result.elbo_after.mean().item(),
            }
        figures[name] = row
        log.debug("imputation %s: %s", name, row)
    return figures


def mse_reduction(figures: dict[str, dict]) -> dict[str, float]:
    """Mean and sd over the random-occlusion rates of 1 - MSE(MAP from mean) / MSE(mean imputation)."""
    reductions = torch.tensor(
        [
            1 - figures[name]["map_from_mean"]["mse_cm2"] / figures[name]["mean"]["mse_cm2"]
            for name in map(rate_name, RATES)
        ]
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
        figures[rate_name(rate)] = auroc(clean, model.elbo(mean_filled(model, windows, mask), labels))
    return figures


def window_labels(model: HGVAE, data: Dataset, indices: np.ndarray) -> Tensor | None:
    """Class indices of the windows `indices` for a class-conditional HG-VAE (its metadata names the
    classes), else None."""
    if not model.config.classes:
        return None
    return torch.from_numpy(model.metadata.label_indices(data.content[indices], "evaluation windows"))


def depth_study(
    windows: Path, work: Path, test: Tensor, epochs: int, device: str, depths=(1, 2, 4), features: int = 64
) -> dict[int, dict]:
    """Table 1 at a small budget: unconditional HG-VAEs of equal architecture (F = `features`) but
    stochastic depth 1, 2, 4, trained `epochs` epochs on the train split of `windows` into `work`
    (reused when there), measured by elbo_figures() on `test`."""
    from training import HGVAETraining, train_hgvae

    study = {}
    for depth in depths:
        checkpoint = work / f"hgvae-depth{depth}.pt"
        config = HGVAETraining(
            stochastic_depth=depth, features=features, batch=256, epochs=epochs,
            kl_warmup_epochs=epochs / 5, validate_every=epochs,
        )  # fmt: skip
        train_hgvae(windows, checkpoint, config, device=device, resume=checkpoint.exists())
        study[depth] = elbo_figures(HGVAE.load(checkpoint, device), test)
    return study
