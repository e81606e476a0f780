"""Cut clips into normalised DRMM segments: context blocks, next poses and goals (motion.layout)."""

from __future__ import annotations

import numpy as np
import torch

from motion.geometry import directions_to_local_frame, facing_direction, to_local_frame
from motion.layout import SegmentLayout

MIN_SHOULDER_WIDTH = 0.01
"""Metres; a current frame whose shoulders are closer on the ground than this gives no facing, so no segment."""


class PrefixMeans:
    """Means over frame ranges in O(1) each, from prefix sums; a range holding a NaN gives NaN.

    NaNs are summed as zeros and counted separately, so one gap does not poison every later range.

    Args:
        values: (frames, ...) float64.
    """

    def __init__(self, values: torch.Tensor):
        missing = torch.isnan(values)
        zero = torch.zeros((1,) + values.shape[1:], dtype=values.dtype)
        self.sums = torch.cat((zero, torch.where(missing, 0.0, values).cumsum(0)))  # (frames + 1, ...)
        self.gaps = torch.cat((zero, missing.to(values.dtype).cumsum(0)))

    def mean(self, starts: torch.Tensor, begin: int, end: int) -> torch.Tensor:
        """Means over frames [start + begin, start + end) for each start: (windows, ...)."""
        total = self.sums[starts + end] - self.sums[starts + begin]
        gaps = self.gaps[starts + end] - self.gaps[starts + begin]
        return torch.where(gaps > 0, torch.nan, total / (end - begin))


def build_segments(
    positions: np.ndarray, layout: SegmentLayout, roles: dict[str, int], stride: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Every segment of a clip, normalised at its current frame.

    Each segment is translated so that the root projected on the ground is at the origin
    and rotated about the up axis so that the character faces +x at the current frame.
    Block averages come from prefix sums, so no 40-frame window is ever materialised.
    Segments containing NaN, or whose current frame has no facing (shoulders on top of each
    other), are left out.

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
    pos = torch.from_numpy(positions).double()  # prefix sums over long clips need the precision
    facing = facing_direction(pos[:, roles["left_shoulder"]], pos[:, roles["right_shoulder"]])
    pose_means, facing_means = PrefixMeans(pos), PrefixMeans(facing)

    context = [pose_means.mean(starts, begin, end) for begin, end in layout.context_blocks]
    offsets = torch.arange(*layout.next_frames)
    next_poses = pos[starts[:, None] + offsets]  # (segments, next, joints, 3)
    poses = torch.cat((torch.stack(context, 1), next_poses), 1)  # (segments, poses, joints, 3)

    goal_begin, goal_end = layout.goal_frames
    goal_means = pose_means.mean(starts, goal_begin, goal_end)  # (segments, joints, 3)
    goal_root, head_height = goal_means[:, roles["root"]], goal_means[:, roles["head"], 2]
    goal_forward = facing_means.mean(starts, goal_begin, goal_end)  # (segments, 3)

    current = starts + layout.current_frame
    origin, current_facing = pos[current, roles["root"]], facing[current]
    segments = starts.shape[0]
    local_poses = to_local_frame(poses.reshape(segments, -1, 3), origin, current_facing)
    local_goal = to_local_frame(goal_root[:, None], origin, current_facing)[:, 0]
    local_forward = directions_to_local_frame(goal_forward[:, None], current_facing)[:, 0]
    local_forward = local_forward / local_forward.norm(dim=-1, keepdim=True).clamp_min(1e-8)

    features = torch.cat(
        (local_poses.reshape(segments, -1), local_goal, local_forward, head_height[:, None]), 1
    ).float()
    shoulders = pos[current, roles["left_shoulder"], :2] - pos[current, roles["right_shoulder"], :2]
    keep = torch.isfinite(features).all(1) & (shoulders.norm(dim=-1) >= MIN_SHOULDER_WIDTH)
    return features[keep].numpy(), starts[keep].numpy()
