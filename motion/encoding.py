"""Clips to model vectors, one implementation for preprocessing, playback and imputation: DRMM segments
normalised at their current frame (motion.layout.SegmentLayout) and HG-VAE windows normalised at their
first frame (motion.layout.WindowLayout).

Normalising puts a frame's root, projected on the ground, at the origin and turns the character to
face +x there (motion.geometry.to_local_frame); heights are kept, so the floor stays at z = 0.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from motion.conventions import UP_AXIS
from motion.geometry import directions_to_local_frame, facing_direction, to_local_frame
from motion.layout import GROUND_AXES, SegmentLayout, WindowLayout

MIN_SHOULDER_WIDTH = 0.01
"""Metres; a frame whose shoulders are closer on the ground than this gives no facing, so no segment or window."""


class PrefixMeans:
    """Means over frame ranges in O(1) each, from prefix sums; a range holding a NaN gives NaN.

    NaNs are summed as zeros and counted separately, so one gap does not poison every later range.

    Args:
        values: (frames, ...) float64.
    """

    def __init__(self, values: Tensor):
        missing = torch.isnan(values)
        zero = torch.zeros((1,) + values.shape[1:], dtype=values.dtype)
        self.sums = torch.cat((zero, torch.where(missing, 0.0, values).cumsum(0)))  # (frames + 1, ...)
        self.gaps = torch.cat((zero, missing.to(values.dtype).cumsum(0)))

    def mean(self, starts: Tensor, begin: int, end: int) -> Tensor:
        """Means over frames [start + begin, start + end) for each start: (windows, ...)."""
        total = self.sums[starts + end] - self.sums[starts + begin]
        gaps = self.gaps[starts + end] - self.gaps[starts + begin]
        return torch.where(gaps > 0, torch.nan, total / (end - begin))


def character_frame(pose: Tensor, roles: dict[str, int]) -> tuple[Tensor, Tensor]:
    """The frame a pose normalises to: the root (origin) and the ground-plane facing of the shoulders.

    Args:
        pose: (..., joints, 3) positions, metres, Z-up.
        roles: joint indices of "root", "left_shoulder", "right_shoulder".
    Returns:
        origin (..., 3) and unit facing (..., 3), z = 0 (zero for a vertical shoulder line).
    """
    facing = facing_direction(pose[..., roles["left_shoulder"], :], pose[..., roles["right_shoulder"], :])
    return pose[..., roles["root"], :], facing


def has_facing(pose: Tensor, roles: dict[str, int]) -> Tensor:
    """(...) bool: the shoulders of `pose` (..., joints, 3) lie at least MIN_SHOULDER_WIDTH apart on the ground."""
    across = pose[..., roles["left_shoulder"], :GROUND_AXES] - pose[..., roles["right_shoulder"], :GROUND_AXES]
    return across.norm(dim=-1) >= MIN_SHOULDER_WIDTH


def _context(means: PrefixMeans, layout: SegmentLayout, starts: Tensor, origin: Tensor, facing: Tensor) -> Tensor:
    """(segments, blocks * joints * 3) float64 context blocks in each segment's current frame."""
    blocks = torch.stack([means.mean(starts, begin, end) for begin, end in layout.context_blocks], 1)
    return to_local_frame(blocks.reshape(len(starts), -1, 3), origin, facing).reshape(len(starts), -1)


def encode_context(
    positions: Tensor, layout: SegmentLayout, roles: dict[str, int], starts: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """The context blocks of the segments starting at `starts`, each normalised at its current frame.

    Each block is the mean pose over its frames (motion.layout.SegmentLayout.context_blocks), from
    prefix sums in float64, so no window is materialised however many segments a clip has. Playback
    calls this with the last current_frame + 1 frames it played and starts = [0].

    Args:
        positions: (frames, joints, 3) global positions, metres, Z-up.
        layout: the segment layout; layout.joints must equal the clip's joints.
        roles: joint indices of "root", "left_shoulder", "right_shoulder".
        starts: (segments,) int64 first frame of each segment; start + current_frame < frames.
    Returns:
        context (segments, blocks * joints * 3) float32, and the current frames' origin (segments, 3)
        and facing (segments, 3), float64.
    """
    if positions.shape[-2] != layout.joints:
        raise ValueError(f"clip has {positions.shape[-2]} joints; the layout expects {layout.joints}")
    pos = positions.double()  # prefix sums over long clips need the precision
    origin, facing = character_frame(pos[starts + layout.current_frame], roles)
    return _context(PrefixMeans(pos), layout, starts, origin, facing).float(), origin, facing


def encode_segments(
    positions: np.ndarray, layout: SegmentLayout, roles: dict[str, int], stride: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Every segment of a clip, normalised at its current frame: the DRMM's training rows.

    The context is encode_context's; the next poses are the frames after the current one, and the
    goals the means over the goal frames of the root position, of the facing direction (re-normalised)
    and of the head height. Segments containing NaN, or whose current frame has no facing (shoulders
    on top of each other), are left out.

    Args:
        positions: (frames, joints, 3) float32 global positions, metres, Z-up.
        layout: the segment layout; layout.joints must equal the clip's joints.
        roles: joint indices of "root", "left_shoulder", "right_shoulder", "head".
        stride: frames between consecutive segment starts.
    Returns:
        features (segments, layout.size) float32 and starts (segments,) int64 frame indices.
    """
    frames = positions.shape[0]
    if positions.shape[1] != layout.joints:
        raise ValueError(f"clip has {positions.shape[1]} joints; the layout expects {layout.joints}")
    if frames < layout.window_frames:
        return np.zeros((0, layout.size), np.float32), np.zeros(0, np.int64)
    starts = torch.arange(0, frames - layout.window_frames + 1, stride)
    segments = len(starts)
    pos = torch.from_numpy(positions).double()  # prefix sums over long clips need the precision
    _, facings = character_frame(pos, roles)  # (frames, 3)
    current = starts + layout.current_frame
    origin, facing = pos[current, roles["root"]], facings[current]
    means = PrefixMeans(pos)
    context = _context(means, layout, starts, origin, facing).float()

    next_poses = pos[starts[:, None] + torch.arange(*layout.next_frames)]  # (segments, next, joints, 3)
    local_next = to_local_frame(next_poses.reshape(segments, -1, 3), origin, facing)

    goal_begin, goal_end = layout.goal_frames
    goal_means = means.mean(starts, goal_begin, goal_end)  # (segments, joints, 3)
    goal_root, head_height = goal_means[:, roles["root"]], goal_means[:, roles["head"], UP_AXIS]
    goal_forward = PrefixMeans(facings).mean(starts, goal_begin, goal_end)  # (segments, 3)
    local_goal = to_local_frame(goal_root[:, None], origin, facing)[:, 0]
    local_forward = directions_to_local_frame(goal_forward[:, None], facing)[:, 0]
    local_forward = local_forward / local_forward.norm(dim=-1, keepdim=True).clamp_min(1e-8)

    features = torch.cat(
        (context.double(), local_next.reshape(segments, -1), local_goal, local_forward, head_height[:, None]), 1
    ).float()
    keep = torch.isfinite(features).all(1) & has_facing(pos[current], roles)
    return features[keep].numpy(), starts[keep].numpy()


def normalise_windows(windows: Tensor, roles: dict[str, int]) -> tuple[Tensor, Tensor, Tensor]:
    """Windows in the frame of their first frame, as the HG-VAE trains on them.

    Args:
        windows: (windows, frames, joints, 3) global positions, metres, Z-up.
        roles: joint indices of "root", "left_shoulder", "right_shoulder".
    Returns:
        local windows (same shape), and each first frame's origin (windows, 3) and facing (windows, 3);
        motion.geometry.from_local_frame with those takes the windows back.
    """
    origin, facing = character_frame(windows[:, 0], roles)
    local = to_local_frame(windows.reshape(len(windows), -1, 3), origin, facing)
    return local.reshape(windows.shape), origin, facing


def encode_windows(
    positions: np.ndarray, layout: WindowLayout, roles: dict[str, int], stride: int = 5
) -> tuple[np.ndarray, np.ndarray]:
    """Every window of a clip (already at layout.fps), normalised at its first frame: the HG-VAE's rows.

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
    windows, _, _ = normalise_windows(pos[starts[:, None] + torch.arange(layout.frames)], roles)
    features = windows.reshape(len(starts), -1)
    keep = torch.isfinite(features).all(1) & has_facing(pos[starts], roles)
    return features[keep].numpy(), starts[keep].numpy()
