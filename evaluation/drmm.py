"""DRMM figures: held-out log-likelihood, sample quality (precision and recall, Fig. 7) and the
depth study at equal parameter count (Fig. 7)."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import torch
from torch import Tensor

from evaluation.sample_quality import precision_recall
from motion.models.drmm import DRMM, DRMMConfig

log = logging.getLogger(__name__)


@torch.no_grad()
def drmm_figures(model: DRMM, test: Tensor, reference: Tensor, passes: int, samples: int) -> dict:
    """Held-out log-likelihood and sample quality of a DRMM.

    Args:
        test: (N, D) held-out vectors the log-likelihood is averaged over.
        reference: (M, D) other held-out vectors, the real set of precision and recall; `samples`
            unconditional samples are drawn against the first `samples` of them.
        passes: S of the importance-sampled estimate (the one-pass estimate is reported too).
    Returns:
        log_likelihood (one pass and S passes, nats per vector) and precision, recall, F1 (k = 3).
    """
    device = model.means[0].device
    generator = torch.Generator(device).manual_seed(0)
    one_pass = model.log_likelihood(test, passes=1, generator=generator).mean().item()
    s_passes = model.log_likelihood(test, passes=passes, generator=generator).mean().item()
    real = reference[:samples].to(device)
    drawn = model.sample(len(real), sort=False, generator=generator).samples
    return {
        "log_likelihood": {"one_pass": one_pass, f"S={passes}": s_passes, "vectors": len(test)},
        "sample_quality": precision_recall(real.cpu(), drawn.cpu()) | {"samples": len(real), "k": 3},
    }


def components_for_budget(dim: int, layers: int, parameters: int) -> int:
    """The component count K whose `layers`-layer DRMM has the parameter count nearest `parameters`."""
    count = lambda k: DRMM(DRMMConfig(dim=dim, layers=layers, components=k)).parameter_count  # noqa: E731
    low, high = 1, 1
    while count(high) < parameters:
        high *= 2
    while low < high:  # smallest K reaching the budget, then whichever neighbour is nearer
        middle = (low + high) // 2
        low, high = (middle + 1, high) if count(middle) < parameters else (low, middle)
    return min((max(low - 1, 1), low), key=lambda k: abs(count(k) - parameters))


def depth_study(
    segments: Path,
    work: Path,
    depths: list[int],
    budget_components: int,
    iterations: int,
    test: Tensor,
    reference: Tensor,
    passes: int,
    samples: int,
    device: str,
) -> dict[int, dict]:
    """Fig. 7 at a small budget: DRMMs of each depth with about the parameters of a 1-layer model
    of `budget_components` components, trained `iterations` iterations on the same segments.

    Returns:
        per depth: components, parameters and drmm_figures().
    """
    from training import DataSelection, DRMMTraining, train_drmm

    dim = test.shape[1]
    budget = DRMM(DRMMConfig(dim=dim, layers=1, components=budget_components)).parameter_count
    results = {}
    for layers in depths:
        components = components_for_budget(dim, layers, budget)
        checkpoint = work / f"drmm-depth{layers}.pt"
        log.info("DRMM depth study: %d layers x %d components", layers, components)
        schedule = replace(DRMMTraining().schedule, iterations=iterations, checkpoint_every=iterations)
        config = DRMMTraining(layers=layers, components=components, schedule=schedule)
        train_drmm(segments, checkpoint, config, DataSelection(val_size=0), device=device, resume=checkpoint.exists())
        model = DRMM.load(checkpoint, device)
        results[layers] = {"components": components, "parameters": model.parameter_count}
        results[layers] |= drmm_figures(model, test, reference, passes, samples)
    return results
