"""Goal clipping: keep the requested goal within what the model thinks reachable (DRMM paper, App. C).

A flag may be too far, or behind the character, for the 1-second goal horizon of a segment.
Conditioning on an unreachable goal gives poor samples, so the requested goal is first pulled
toward goals the model samples given the context alone (the "population").
"""

from __future__ import annotations

import torch
from torch import Tensor

CLIPPING_MODES = ("direction", "box", "none")


def clip_box(requested: Tensor, population: Tensor, sds: float = 3.5) -> Tensor:
    """App. C: clip each goal variable to the population's mean +- `sds` standard deviations.

    Args:
        requested: (V,) goal variables (e.g. root x, y and forward x, y in the local frame).
        population: (N, V) the same variables sampled given the context alone.
    Returns:
        (V,) the clipped goal.
    """
    mean, sd = population.mean(0), population.std(0)
    return torch.minimum(torch.maximum(requested, mean - sds * sd), mean + sds * sd)


def clip_along_direction(target: Tensor, population: Tensor, quantile: float = 0.9, least: float = 0.25) -> Tensor:
    """Clip the goal root position along the direction to the flag, to the distance the population reaches.

    Per-coordinate clipping keeps the goal inside a box around where the character is already
    heading (a box ~0.1 m wide once the history is known), so it can neither slow down nor turn
    back. Here the direction to the flag is kept and only the distance is shortened: to the
    `quantile` of the population's progress along that direction, and never below `least`, so a
    flag behind the character becomes a nearby goal behind it, which the model reaches by turning.

    Args:
        target: (2,) the flag's position on the ground in the local frame, metres.
        population: (N, 2) goal root positions sampled given the context alone.
    Returns:
        (2,) the goal root position.
    """
    distance = target.norm()
    if distance < 1e-6:
        return target
    direction = target / distance
    progress = torch.quantile(population @ direction, quantile)
    return direction * torch.clamp(progress, min=least).clamp(max=distance)
