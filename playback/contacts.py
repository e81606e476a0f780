"""Foot-contact clean-up: toes that touch the floor stay put, and the legs follow by IK.

A sampled toe that should be planted drifts a little from pose to pose; over a take that reads
as skating. `FootLock` pins a toe where it touched down while it stays low, moves its foot by
the same horizontal offset, and bends the knee by two-bone IK so hip, knee and ankle keep their
lengths. When the toe lifts, slips too far from its pin, or the leg cannot reach, the pin is
released and the offset fades out over a few frames, so nothing jumps. A toe sampled under the
floor (on sharp turns, mostly) is pitched up about its ankle onto the floor, its bone length kept,
and an ankle under the floor is lifted onto it by the same IK.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from motion.skeleton import Skeleton
from playback.seams import decaying_offset


@dataclass
class FootLockConfig:
    """Attributes:
    contact_height: metres; a toe below this may be planted (the skating metric's height).
    lock_speed: m/s; a toe touching down slower than this is planted.
    max_slip: metres; a pin this far from where the sample puts the toe is released.
    release_frames: frames over which a released pin's offset fades out.
    max_extension: a pin is released before the leg would stretch beyond this fraction of its length.
    """

    contact_height: float = 0.06
    lock_speed: float = 3.0
    max_slip: float = 0.5
    release_frames: int = 6
    max_extension: float = 1.0


@dataclass
class Leg:
    """Joint indices of one leg, hip to toe."""

    hip: int
    knee: int
    ankle: int
    toe: int


def legs(skeleton: Skeleton) -> list[Leg]:
    """The legs of a skeleton: each toe joint (named like a toe) and its three ancestors."""
    found = []
    for toe, name in enumerate(skeleton.joints):
        if "toe" in name.lower():
            ankle = skeleton.parents[toe]
            knee = skeleton.parents[ankle]
            hip = skeleton.parents[knee]
            if min(ankle, knee, hip) < 0:
                raise ValueError(f"skeleton {skeleton.name!r}: toe {name!r} has no hip, knee and ankle above it")
            found.append(Leg(hip, knee, ankle, toe))
    if not found:
        raise ValueError(f"skeleton {skeleton.name!r} has no joint named like a toe")
    return found


def two_bone_ik(hip: Tensor, knee: Tensor, ankle: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """Place the knee so that the ankle reaches `target` with both bone lengths kept, bending in
    the plane of the original knee; a target out of reach is pulled in to full extension.

    Args:
        hip, knee, ankle, target: (3,) positions, metres.
    Returns:
        knee (3,), ankle (3,).
    """
    upper, lower = (knee - hip).norm(), (ankle - knee).norm()
    line = (ankle - hip) / (ankle - hip).norm().clamp_min(1e-8)
    pole = (knee - hip) - ((knee - hip) @ line) * line
    reach = target - hip
    distance = reach.norm().clamp(min=(upper - lower).abs() + 1e-4, max=upper + lower - 1e-4)
    axis = reach / reach.norm().clamp_min(1e-8)
    ankle = hip + axis * distance
    along = (upper**2 - lower**2 + distance**2) / (2 * distance)
    radius = (upper**2 - along**2).clamp_min(0).sqrt()
    # The knee's offset from the original hip-ankle line says which way the leg bends.
    bend = pole - (pole @ axis) * axis
    bend = bend / bend.norm().clamp_min(1e-8)
    return hip + along * axis + radius * bend, ankle


class FootLock:
    """Plants toes frame by frame as a take is played (see the module docstring).

    Args:
        skeleton: names and parents; the legs are found from the toe joints.
        fps: frames per second of the poses.
    """

    def __init__(self, skeleton: Skeleton, fps: float, config: FootLockConfig | None = None) -> None:
        self.legs, self.fps, self.config = legs(skeleton), fps, config or FootLockConfig()
        self.pins: list[Tensor | None] = [None] * len(self.legs)  # (2,) planted toe x, y
        self.offsets = [torch.zeros(2) for _ in self.legs]  # last applied horizontal offset
        self.velocities = [torch.zeros(2) for _ in self.legs]  # its change over the last frame
        self.releases: list[tuple[Tensor, Tensor] | None] = [None] * len(self.legs)  # fade's x0, v0
        self.fading = [0] * len(self.legs)  # frames into a released offset's fade
        self.previous: Tensor | None = None  # (J, 3) the previous pose as sampled

    def __call__(self, poses: Tensor) -> Tensor:
        """Clean up the next poses.

        Args:
            poses: (n, J, 3) global positions as sampled, metres, Z-up, floor at z = 0.
        Returns:
            (n, J, 3) with planted toes, their feet moved alike and the knees re-solved.
        """
        out = poses.clone()
        for frame, pose in enumerate(poses):
            for index, leg in enumerate(self.legs):
                offset = self._offset(index, leg, pose)
                if offset.abs().max() > 0:
                    out[frame] = self._move_foot(out[frame], leg, offset)
                out[frame] = above_floor(out[frame], leg)
            self.previous = pose
        return out

    def _offset(self, index: int, leg: Leg, pose: Tensor) -> Tensor:
        """The horizontal offset (2,) to apply to this leg's foot in `pose`, updating the pin."""
        config, toe = self.config, pose[leg.toe]
        low = toe[2] < config.contact_height
        pin = self.pins[index]
        if pin is not None and (
            not low or (pin - toe[:2]).norm() > config.max_slip or not self._reaches(pose, leg, pin - toe[:2])
        ):
            self.pins[index], pin = None, None
            self.releases[index] = (self.offsets[index], self.velocities[index])
            self.fading[index] = 0
        if pin is None and low and self.previous is not None:
            speed = (toe[:2] - self.previous[leg.toe, :2]).norm() * self.fps
            if speed < config.lock_speed:  # touch down where the toe is shown now
                self.pins[index] = pin = toe[:2] + self.offsets[index]
                self.releases[index] = None
        if pin is not None:
            offset = pin - toe[:2]
        elif self.releases[index] is not None:  # the offset decays smoothly from its last motion
            self.fading[index] += 1
            x0, v0 = self.releases[index]
            t = torch.tensor([float(self.fading[index])])
            offset = decaying_offset(x0, v0, torch.zeros(2), t, config.release_frames)[0]
            if self.fading[index] >= config.release_frames:
                self.releases[index] = None
        else:
            offset = torch.zeros(2)
        self.velocities[index] = offset - self.offsets[index]
        self.offsets[index] = offset
        return offset

    def _reaches(self, pose: Tensor, leg: Leg, offset: Tensor) -> bool:
        """Whether the leg reaches the ankle moved by `offset` short of full extension."""
        upper = (pose[leg.knee] - pose[leg.hip]).norm()
        lower = (pose[leg.ankle] - pose[leg.knee]).norm()
        target = pose[leg.ankle, :2] + offset
        distance = torch.cat([target - pose[leg.hip, :2], pose[leg.ankle, 2:] - pose[leg.hip, 2:]]).norm()
        return bool(distance < self.config.max_extension * (upper + lower))

    def _move_foot(self, pose: Tensor, leg: Leg, offset: Tensor) -> Tensor:
        shift = torch.cat([offset, offset.new_zeros(1)])
        knee, ankle = two_bone_ik(pose[leg.hip], pose[leg.knee], pose[leg.ankle], pose[leg.ankle] + shift)
        pose = pose.clone()
        # Out of reach, the ankle stops short; the toe keeps its offset from the ankle.
        pose[leg.toe] = pose[leg.toe] + (ankle - pose[leg.ankle])
        pose[leg.knee], pose[leg.ankle] = knee, ankle
        return pose


def above_floor(pose: Tensor, leg: Leg) -> Tensor:
    """The pose with this leg's ankle and toe at or above the floor (z = 0): an ankle under it lifted
    by two-bone IK, then a toe under it pitched up about the ankle, its bone length kept.

    Args:
        pose: (J, 3) global positions, metres.
    Returns:
        (J, 3), the same tensor when nothing is under the floor.
    """
    if pose[leg.toe, 2] >= 0 and pose[leg.ankle, 2] >= 0:
        return pose
    pose = pose.clone()
    if pose[leg.ankle, 2] < 0:
        target = pose[leg.ankle].clone()
        target[2] = 0.0
        knee, ankle = two_bone_ik(pose[leg.hip], pose[leg.knee], pose[leg.ankle], target)
        pose[leg.toe] = pose[leg.toe] + (ankle - pose[leg.ankle])
        pose[leg.knee], pose[leg.ankle] = knee, ankle
    bone = pose[leg.toe] - pose[leg.ankle]
    if pose[leg.toe, 2] < 0:
        length, rise = bone.norm(), -pose[leg.ankle, 2]  # the toe's height over the ankle that puts it on the floor
        ground = bone[:2] / bone[:2].norm().clamp_min(1e-8)
        flat = (length**2 - rise**2).clamp_min(0).sqrt()
        pose[leg.toe] = pose[leg.ankle] + torch.cat([ground * flat, rise.reshape(1)])
    return pose
