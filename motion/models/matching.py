"""Motion matching (Clavet, GDC 2016; Holden et al., "Learned Motion Matching", 2020): a database of
real frames, each described by a feature vector, and a nearest-neighbour search over it.

A frame's features, in its own character frame (the root projected on the ground at the origin,
facing +x, as segments are normalised), are those of Learned Motion Matching: the root's future
ground positions and facing directions at `trajectory_frames` frames ahead, both feet's positions
and velocities, and the hips' velocity. Each group is standardised by the mean standard deviation of
its dimensions over the database and multiplied by its weight, so that a Euclidean distance weighs
the groups as configured; the search is brute force over every playable frame (a few milliseconds
for a hundred thousand frames).

The controller that builds queries and plays the matched frames is playback.matching.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields

import numpy as np
import torch
from torch import Tensor, nn

from motion.encoding import character_frame, has_facing
from motion.geometry import directions_to_local_frame, to_local_frame
from motion.skeleton import Skeleton, preset_roles

FEATURE_GROUPS = ("trajectory_positions", "trajectory_directions", "foot_positions", "foot_velocities", "hip_velocity")
"""The feature groups, in the order of a feature vector."""

FEET = ("left_foot", "right_foot")
"""The joints whose positions and velocities are matched (laforge20's foot joints, at the ankles)."""

TRAJECTORY_FRAMES = (20, 40, 60)
"""Frames ahead of the matched future root positions and directions (Learned Motion Matching's)."""

FEATURE_WEIGHTS = (1.0, 1.5, 0.75, 1.0, 1.0)
"""Multiplier of each feature group (FEATURE_GROUPS order) after standardisation."""

MOVING_SPEED = 0.3
"""m/s; root ground speeds above this count as moving, for the database's walking speed."""


@dataclass(frozen=True)
class MatchingConfig:
    """A motion-matching database: its size and how its features are weighed.

    Attributes:
        frames: database frames (every frame of every clip, playable or not).
        joints: joints per frame.
        trajectory_frames: frames ahead of the future root positions and directions.
        weights: multiplier of each feature group (FEATURE_GROUPS order) after standardisation.
    """

    frames: int
    joints: int
    trajectory_frames: tuple[int, ...] = TRAJECTORY_FRAMES
    weights: tuple[float, ...] = FEATURE_WEIGHTS

    def __post_init__(self) -> None:
        object.__setattr__(self, "trajectory_frames", tuple(self.trajectory_frames))
        object.__setattr__(self, "weights", tuple(self.weights))
        if len(self.weights) != len(FEATURE_GROUPS):
            raise ValueError(f"weights: one per feature group ({', '.join(FEATURE_GROUPS)}), got {len(self.weights)}")

    @property
    def group_sizes(self) -> tuple[int, ...]:
        """Columns of each feature group, FEATURE_GROUPS order."""
        steps = len(self.trajectory_frames)
        return (2 * steps, 2 * steps, 3 * len(FEET), 3 * len(FEET), 3)

    @property
    def features(self) -> int:
        """Columns of a feature vector."""
        return sum(self.group_sizes)

    def to_dict(self) -> dict:
        return asdict(self) | {"trajectory_frames": list(self.trajectory_frames), "weights": list(self.weights)}

    @classmethod
    def from_dict(cls, data: dict) -> MatchingConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def pose_features(window: Tensor, fps: float, feet: Sequence[int], roles: dict[str, int]) -> Tensor:
    """The pose part of the features (both feet's positions and velocities, the hips' velocity) of
    the last frame of each window, in that frame's character frame.

    Args:
        window: (..., 2, J, 3) global positions of the frame before and the frame itself, metres.
        fps: frames per second (velocities are backward differences, m/s).
        feet: joint indices of the feet.
        roles: as motion.skeleton.preset_roles gives them.
    Returns:
        (..., 15) feet positions (6), feet velocities (6), hip velocity (3).
    """
    origin, facing = character_frame(window[..., -1, :, :], roles)
    index = [*feet, roles["root"]]
    velocity = (window[..., -1, index, :] - window[..., -2, index, :]) * fps
    feet_local = to_local_frame(window[..., -1, list(feet), :], origin, facing)
    velocity_local = directions_to_local_frame(velocity, facing)
    return torch.cat([feet_local.flatten(-2), velocity_local.flatten(-2)], -1)


def trajectory_features(future_roots: Tensor, future_facings: Tensor, origin: Tensor, facing: Tensor) -> Tensor:
    """The trajectory part of the features: future ground positions and facing directions in the
    character frame of (origin, facing).

    Args:
        future_roots: (..., steps, 3) global root positions ahead, metres.
        future_facings: (..., steps, 3) unit ground facings there.
        origin, facing: (..., 3) the current character frame.
    Returns:
        (..., 4 * steps): the positions' x, y (2 * steps), then the directions' x, y (2 * steps).
    """
    positions = to_local_frame(future_roots, origin, facing)[..., :2]
    directions = directions_to_local_frame(future_facings, facing)[..., :2]
    return torch.cat([positions.flatten(-2), directions.flatten(-2)], -1)


class MotionMatching(nn.Module):
    """The database: real frames, their features, their standardisation, and which frames can be
    jumped to (every trajectory step and the velocities defined, within one clip).

    Buffers (saved in the checkpoint):
        positions: (frames, J, 3) float32 global positions of every clip, one after another, metres.
        clip_end: (frames,) int64 index one past the last frame of each frame's clip.
        features: (frames, F) float32 raw features (NaN where undefined).
        offset, scale: (F,) the standardisation: (features - offset) / scale.
        playable: (frames,) bool.
        speed: () the database's median ground speed of the root while moving, m/s.
    """

    def __init__(self, config: MatchingConfig) -> None:
        super().__init__()
        self.config = config
        frames, joints, width = config.frames, config.joints, config.features
        self.register_buffer("positions", torch.zeros(frames, joints, 3))
        self.register_buffer("clip_end", torch.zeros(frames, dtype=torch.long))
        self.register_buffer("features", torch.zeros(frames, width))
        self.register_buffer("offset", torch.zeros(width))
        self.register_buffer("scale", torch.ones(width))
        self.register_buffer("playable", torch.zeros(frames, dtype=torch.bool))
        self.register_buffer("speed", torch.tensor(1.0))
        self.metadata = None  # ModelMetadata, set by motion.checkpoint.restore_model or training.matching

    @classmethod
    def from_config(cls, data: dict) -> MotionMatching:
        return cls(MatchingConfig.from_dict(data))

    @classmethod
    def build(
        cls,
        clips: Sequence[np.ndarray],
        skeleton: Skeleton,
        fps: float,
        trajectory_frames: tuple[int, ...] = TRAJECTORY_FRAMES,
        weights: tuple[float, ...] = FEATURE_WEIGHTS,
    ) -> MotionMatching:
        """A database of `clips` (each (frames, J, 3) global positions, metres, Z-up; frames with gaps
        are never played) on `skeleton` at `fps`, its features as MatchingConfig describes them.

        Raises:
            ValueError: no clip is long enough to hold one playable frame.
        """
        total = sum(len(clip) for clip in clips)
        config = MatchingConfig(total, len(skeleton), trajectory_frames, weights)
        model = cls(config)
        roles = preset_roles(skeleton.name)
        feet = [skeleton.index(name) for name in FEET]
        ahead = max(config.trajectory_frames)
        rows, ends, speeds, end = [], [], [], 0
        for clip in clips:
            positions = torch.as_tensor(clip, dtype=torch.float32)
            count = len(positions)
            features = torch.full((count, config.features), float("nan"))
            # A frame can be jumped to when every frame from the one before it to the last trajectory
            # step is complete and has a facing, as preprocessing keeps segments.
            good = torch.isfinite(positions).all(-1).all(-1) & has_facing(positions.nan_to_num(), roles)
            bad_before = torch.cat([torch.zeros(1, dtype=torch.long), (~good).long().cumsum(0)])
            now = torch.arange(1, max(count - ahead, 1))
            now = now[bad_before[now + ahead + 1] == bad_before[now - 1]]
            if len(now):
                origin, facing = character_frame(positions, roles)
                steps = now[:, None] + torch.tensor(config.trajectory_frames)
                trajectory = trajectory_features(origin[steps], facing[steps], origin[now], facing[now])
                window = torch.stack([positions[now - 1], positions[now]], 1)
                features[now] = torch.cat([trajectory, pose_features(window, fps, feet, roles)], -1)
                speeds.append((origin[now, :2] - origin[now - 1, :2]).norm(dim=-1) * fps)
            rows.append(features)
            end += count
            ends.append(torch.full((count,), end, dtype=torch.long))
        features = torch.cat(rows)
        playable = torch.isfinite(features).all(1)
        if not playable.any():
            raise ValueError(f"no clip is longer than {ahead + 1} frames, so none has a future trajectory to match")
        model.positions.copy_(torch.cat([torch.as_tensor(c, dtype=torch.float32) for c in clips]))
        model.clip_end.copy_(torch.cat(ends))
        model.features.copy_(features)
        model.playable.copy_(playable)
        usable = features[playable]
        model.offset.copy_(usable.mean(0))
        scale, start = torch.empty(config.features), 0
        for size, weight in zip(config.group_sizes, config.weights, strict=True):
            scale[start : start + size] = usable[:, start : start + size].std(0).mean().clamp_min(1e-6) / weight
            start += size
        model.scale.copy_(scale)
        moving = torch.cat(speeds)
        moving = moving[moving > MOVING_SPEED]
        model.speed.copy_(moving.median() if len(moving) else torch.tensor(1.0))
        return model

    def group_slice(self, name: str) -> slice:
        """The columns of feature group `name` (FEATURE_GROUPS)."""
        start = 0
        for group, size in zip(FEATURE_GROUPS, self.config.group_sizes, strict=True):
            if group == name:
                return slice(start, start + size)
            start += size
        raise KeyError(name)

    def costs(self, query: Tensor, mask: Tensor | None = None) -> Tensor:
        """(frames,) squared standardised distance of every frame to the query; inf where not playable.

        Args:
            query: (F,) raw features (as `features` holds them).
            mask: (F,) bool, the features that count (None: all); the facing-unspecified mode leaves
                the trajectory directions out.
        """
        weights = 1 / self.scale if mask is None else torch.where(mask, 1 / self.scale, 0.0)  # a mask zeroes columns
        cost = ((self.features - query.to(self.features)) * weights).pow(2).nan_to_num(0.0).sum(1)
        return torch.where(self.playable, cost, torch.inf)

    def search(self, query: Tensor, mask: Tensor | None = None) -> tuple[int, float]:
        """The playable frame nearest the query (`costs`), and its cost."""
        cost = self.costs(query, mask)
        best = int(cost.argmin())
        return best, float(cost[best])
