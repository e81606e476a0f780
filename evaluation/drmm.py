"""DRMM figures: held-out log-likelihood, sample quality (precision and recall, Fig. 7) and the
depth study at equal parameter count (Fig. 7)."""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch import Tensor

from evaluation.sample_quality import precision_recall
from motion.errors import InputError
from motion.models.drmm import DRMM, DRMMConfig


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
    from training.drmm import main as train

    dim = test.shape[1]
    budget = DRMM(DRMMConfig(dim=dim, layers=1, components=budget_components)).parameter_count
    results = {}
    for layers in depths:
        components = components_for_budget(dim, layers, budget)
        checkpoint = work / f"drmm-depth{layers}.pt"
        arguments = ["--data", str(segments), "--out", str(checkpoint), "--layers", str(layers)]
        arguments += ["--components", str(components), "--iterations", str(iterations), "--val-size", "0"]
        arguments += ["--checkpoint-every", str(iterations), "--device", device]
        arguments += ["--resume"] if checkpoint.exists() else []
        print(f"DRMM depth study: {layers} layers x {components} components", file=sys.stderr, flush=True)
        if train(arguments) != 0:
            raise InputError(f"{segments}: training the {layers}-layer DRMM of the depth study failed")
        model, _ = DRMM.load(checkpoint, device)
        results[layers] = {"components": components, "parameters": model.parameter_count}
        results[layers] |= drmm_figures(model, test, reference, passes, samples)
    return results
