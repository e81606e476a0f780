"""Gaps in trajectories: the occlusion patterns the imputation figures use (random entries, and
whole joints lost over contiguous spans, as markers drop out in real mocap), how long each gap runs,
and filling gaps by linear interpolation in time: the baseline imputation and a starting point of the
HG-VAE's MAP."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

SPAN_FRAMES = (10, 40)  # how long a joint stays occluded in span_mask, frames


def random_mask(shape: tuple[int, ...], rate: float, generator: torch.Generator) -> Tensor:
    """Bool mask of `shape`, each entry occluded with probability `rate`."""
    return torch.rand(shape, generator=generator) < rate


def span_mask(shape: tuple[int, ...], generator: torch.Generator) -> Tensor:
    """(windows, frames, joints, 3) bool mask: in each window one to three random joints are
    occluded (all 3 coordinates) over one span of 10-40 contiguous frames."""
    windows, frames, joints, _ = shape
    mask = torch.zeros(shape, dtype=torch.bool)
    for window in range(windows):
        count = int(torch.randint(1, 4, (1,), generator=generator))
        for joint in torch.randperm(joints, generator=generator)[:count].tolist():
            length = min(int(torch.randint(SPAN_FRAMES[0], SPAN_FRAMES[1] + 1, (1,), generator=generator)), frames)
            first = int(torch.randint(0, frames - length + 1, (1,), generator=generator))
            mask[window, first : first + length, joint] = True
    return mask


def interpolate_gaps(values: Tensor, missing: Tensor, fallback: Tensor | None = None) -> Tensor:
    """Fill missing entries of trajectories by linear interpolation between the nearest observed
    frames before and after, holding the first/last observed value beyond the ends.

    Args:
        values: (..., T, C) trajectories over T frames of C channels (e.g. joint coordinates).
        missing: (..., T, C) bool, True where a value is missing (its content is ignored).
        fallback: (..., T, C) or broadcastable values for channels with no observed frame at all
            (e.g. a training-set mean); zeros when None.
    Returns:
        (..., T, C): `values` where observed, interpolated elsewhere.
    """
    frames = values.shape[-2]
    observed = ~missing
    time = torch.arange(frames, device=values.device).view(-1, 1).expand(values.shape[-2:])
    never = torch.full_like(time, -1)
    # Index of the last observed frame at or before t, and of the first at or after t.
    before = torch.where(observed, time, never).cummax(dim=-2).values
    after = torch.where(observed, time, never + frames + 1).flip(-2).cummin(dim=-2).values.flip(-2)
    has_before, has_after = before >= 0, after <= frames - 1
    before_value = values.gather(-2, before.clamp(min=0))
    after_value = values.gather(-2, after.clamp(max=frames - 1))
    span = (after - before).clamp(min=1).to(values.dtype)
    weight = ((time - before).to(values.dtype) / span).clamp(0, 1)
    inner = before_value + weight * (after_value - before_value)
    filled = torch.where(has_before & has_after, inner, torch.where(has_before, before_value, after_value))
    empty = ~(has_before | has_after)
    if empty.any():
        filled = torch.where(
            empty, torch.zeros_like(values) if fallback is None else fallback.expand_as(values), filled
        )
    return torch.where(missing, filled, values)


def gap_runs(missing: np.ndarray) -> list[tuple[int, int]]:
    """The runs of consecutive missing frames of one trajectory.

    Args:
        missing: (frames,) bool, True where missing.
    Returns:
        (first, stop) frame of each run, in order: missing[first:stop] is all True.
    """
    edges = np.flatnonzero(np.diff(np.concatenate([[0], missing.astype(np.int8), [0]])))  # run starts, then stops
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def gap_lengths(missing: np.ndarray) -> np.ndarray:
    """For each missing point, the length of the run of consecutive missing frames it belongs to.

    Args:
        missing: (frames, joints) bool, True where a joint is missing.
    Returns:
        (frames, joints) int64: the run's length in frames at each missing point, 0 where observed.
    """
    lengths = np.zeros(missing.shape, np.int64)
    for joint in np.flatnonzero(missing.any(0)):
        for first, stop in gap_runs(missing[:, joint]):
            lengths[first:stop, joint] = stop - first
    return lengths


def short_gaps(missing: np.ndarray, seconds: float, fps: float) -> np.ndarray:
    """The missing points whose gap lasts at most `seconds`, counted in whole frames (round(seconds * fps)).

    Args:
        missing: (frames, joints) bool, True where a joint is missing.
        seconds: the longest gap that counts as short; math.inf: every gap.
        fps: frames per second of the clip.
    Returns:
        (frames, joints) bool.
    """
    limit = math.inf if math.isinf(seconds) else round(seconds * fps)
    return missing & (gap_lengths(missing) <= limit)
