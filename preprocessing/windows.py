"""Cut clips (already at the window rate) into normalised HG-VAE windows (motion.layout.WindowLayout)."""

from __future__ import annotations

import numpy as np
import torch

from motion.geometry import facing_direction, to_local_frame
from motion.layout import WindowLayout
from preprocessing.segments import MIN_SHOULDER_WIDTH


def build_windows(
    positions: np.ndarray, layout: WindowLayout, roles: dict[str, int], stride: int = 5
) -> tuple[np.ndarray, np.ndarray]:
    """Every window of a clip (already at layout.fps), normalised at its first frame.

    Args:
        positions: (frames, joints, 3) float32 global positions, metres, Z-up, at layout.fps.
        layout: the window layout; layout.joints must equal the clip's joints.
        roles: joint indices of "root", "left_shoulder", "right_shoulder".
        stride: frames between consecutive window starts.
    Returns:
        features (windows, frames * joints * 3) float32, frame-major, and starts (windows,) int64.
    """
    if positions.shape[1] != layout.joints:
        raise ValueError(f"clip has {positions.shape[1]} joints; the layout expects {layout.joints}")
    if positions.shape[0] < layout.frames:
        return np.zeros((0, layout.size), np.float32), np.zeros(0, np.int64)
    pos = torch.from_numpy(positions)
    starts = torch.arange(0, positions.shape[0] - layout.frames + 1, stride)
    windows = pos[starts[:, None] + torch.arange(layout.frames)]  # (windows, frames, joints, 3)
    first = windows[:, 0]
    facing = facing_direction(first[:, roles["left_shoulder"]], first[:, roles["right_shoulder"]])
    local = to_local_frame(windows.reshape(len(starts), -1, 3), first[:, roles["root"]], facing)
    features = local.reshape(len(starts), -1)
    shoulders = first[:, roles["left_shoulder"], :2] - first[:, roles["right_shoulder"], :2]
    keep = torch.isfinite(features).all(1) & (shoulders.norm(dim=-1) >= MIN_SHOULDER_WIDTH)
    return features[keep].numpy(), starts[keep].numpy()
