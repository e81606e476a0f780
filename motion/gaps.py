"""Filling gaps in trajectories by linear interpolation in time: the baseline imputation and the
starting point of the HG-VAE's MAP imputation."""

from __future__ import annotations

import torch
from torch import Tensor


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
