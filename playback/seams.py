"""Joining one decision's poses onto the frames already played, by inertialization.

A sample's own version of the current frame never matches the history exactly: its position,
velocity and acceleration all jump at the seam, which shows as jerk. Inertialization (Bollo,
"Inertialization: High-Performance Animation Transitions in Gears of War", GDC 2018) adds to the
new poses an offset that starts at exactly those differences and decays to zero along a quintic
polynomial, so the joined motion is continuous up to acceleration and ends on the sample itself.
"""

from __future__ import annotations

import torch
from torch import Tensor

from motion.geometry import from_local_frame, to_local_frame


def decaying_offset(x0: Tensor, v0: Tensor, a0: Tensor, t: Tensor, duration: float) -> Tensor:
    """The quintic x(t) with x(0) = x0, x'(0) = v0, x''(0) = a0 and x, x', x'' = 0 at `duration`.

    Args:
        x0, v0, a0: (...) offset, its velocity (per frame) and acceleration (per frame^2).
        t: (n,) frames after the seam; zero offset from `duration` on.
    Returns:
        (n, ...) offsets.
    """
    T = duration
    A = -(a0 * T**2 + 6 * v0 * T + 12 * x0) / (2 * T**5)
    B = (3 * a0 * T**2 + 16 * v0 * T + 30 * x0) / (2 * T**4)
    C = -(3 * a0 * T**2 + 12 * v0 * T + 20 * x0) / (2 * T**3)
    t = t.clamp(max=T).reshape(-1, *([1] * x0.dim()))
    return ((((A * t + B) * t + C) * t + a0 / 2) * t + v0) * t + x0


def inertialize(played: Tensor, sampled_current: Tensor, poses: Tensor, duration: float) -> Tensor:
    """Shift `poses` so they continue `played` smoothly.

    Args:
        played: (3, J, 3) the last three frames played, oldest first.
        sampled_current: (J, 3) the sample's version of the last played frame.
        poses: (n >= 2, J, 3) the sample's next poses, in the same frame of reference.
        duration: frames over which the offset decays.
    Returns:
        (n, J, 3) poses.
    """
    x0 = played[-1] - sampled_current
    v0 = (played[-1] - played[-2]) - (poses[0] - sampled_current)
    a0 = (played[-1] - 2 * played[-2] + played[-3]) - (poses[1] - 2 * poses[0] + sampled_current)
    t = torch.arange(1, len(poses) + 1, dtype=poses.dtype, device=poses.device)
    return poses + decaying_offset(x0, v0, a0, t, duration)


def played_on(
    history: Tensor, origin: Tensor, facing: Tensor, current: Tensor, poses: Tensor, blend_frames: float | None
) -> Tensor:
    """The next poses, given in the character frame of the last frame played, as global poses that
    continue the history (joined by `inertialize`, or as they are when `blend_frames` is None).

    Args:
        history: (>= 3, J, 3) the frames played, global, metres.
        origin, facing: (3,) the character frame of history[-1] (motion.encoding.character_frame).
        current: (J, 3) the sample's (or the database's) own version of history[-1], in that frame.
        poses: (n, J, 3) the next poses in that frame.
    Returns:
        (n, J, 3) global positions.
    """
    if blend_frames is not None:
        played = to_local_frame(history[None, -3:].reshape(1, -1, 3), origin[None], facing[None])
        poses = inertialize(played.reshape(3, -1, 3), current, poses, blend_frames)
    return from_local_frame(poses.reshape(1, -1, 3), origin[None], facing[None]).reshape(poses.shape)
