"""Resample clips and cut them into normalised HG-VAE windows (motion.layout.WindowLayout)."""

from __future__ import annotations

import numpy as np
import torch

from motion.geometry import facing_direction, to_local_frame
from motion.layout import WindowLayout
from preprocessing.segments import MIN_SHOULDER_WIDTH


def resample(positions: np.ndarray, fps: float, target_fps: float) -> np.ndarray:
    """Linearly interpolate a clip to another frame rate.

    Args:
        positions: (frames, joints, 3) float32.
        fps: the clip's rate.
        target_fps: the rate wanted.
    Returns:
        (frames', joints, 3) float32 sampled at t = k / target_fps for every t within the
        clip's first-to-last frame span; the input itself when the rates agree.
    """
    if abs(fps - target_fps) < 1e-6 * target_fps or positions.shape[0] < 2:
        return positions
    span = (positions.shape[0] - 1) / fps
    times = np.arange(int(np.floor(span * target_fps + 1e-9)) + 1) / target_fps
    source = times * fps
    before = np.minimum(np.floor(source).astype(np.int64), positions.shape[0] - 2)
    weight = (source - before).astype(np.float32)[:, None, None]
    return (positions[before] * (1 - weight) + positions[before + 1] * weight).astype(np.float32)


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
