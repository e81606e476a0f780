"""The canonical motion clip: global joint positions in metres, Z-up, with skeleton, rate and labels."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from motion.conventions import UP_AXIS
from motion.skeleton import JointMap, Skeleton


@dataclass(frozen=True)
class Clip:
    """One take of motion.

    Attributes:
        positions: (frames, joints, 3) float32 global joint positions, metres, right-handed, Z-up.
        skeleton: joint names and parents, in the order of the joint axis.
        fps: frames per second.
        source: where the clip came from ("dir/file.bvh", "lib.zip::walk.bvh", "file.csv#take2").
        name: clip name, unique within a dataset (the file stem, plus "_takeN" for multi-take files).
        labels: optional labels, e.g. {"content": "walk", "style": "elderly"}.
    """

    positions: np.ndarray
    skeleton: Skeleton
    fps: float
    source: str
    name: str
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def frames(self) -> int:
        return self.positions.shape[0]

    @property
    def duration(self) -> float:
        """Seconds from the first to the last frame's end."""
        return self.frames / self.fps

    @property
    def height(self) -> float:
        """Median over frames of the vertical extent of the joints, metres (the actor's height, roughly)."""
        if self.frames == 0:
            return 0.0
        up = self.positions[..., UP_AXIS]
        return float(np.median(up.max(axis=1) - up.min(axis=1)))

    def remap(self, joint_map: JointMap) -> Clip:
        """The clip on joint_map.target's skeleton (joints picked and reordered; nothing interpolated)."""
        indices = joint_map.indices(self.skeleton, self.source)
        positions = np.ascontiguousarray(self.positions[:, indices])
        return replace(self, positions=positions, skeleton=joint_map.target)


def resample(positions: np.ndarray, fps: float, target_fps: float) -> np.ndarray:
    """Linearly interpolate a clip to another frame rate.

    Args:
        positions: (frames, joints, 3) float32.
        fps: the clip's rate.
        target_fps: the rate wanted.
    Returns:
        (frames', joints, 3) float32 sampled at t = k / target_fps for every t within the
        clip's first-to-last frame span; the input itself when the rates agree. A sample
        next to a NaN (occluded) value is NaN.
    """
    if abs(fps - target_fps) < 1e-6 * target_fps or positions.shape[0] < 2:
        return positions
    span = (positions.shape[0] - 1) / fps
    times = np.arange(int(np.floor(span * target_fps + 1e-9)) + 1) / target_fps
    source = times * fps
    before = np.minimum(np.floor(source).astype(np.int64), positions.shape[0] - 2)
    weight = (source - before).astype(np.float32)[:, None, None]
    return (positions[before] * (1 - weight) + positions[before + 1] * weight).astype(np.float32)
