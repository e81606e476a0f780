"""Rigs: a skeleton with a rest pose and BVH channels, built from a clip (median bone lengths, a T-pose),
from a preset's shipped rest pose or from a BVH file's hierarchy.

A rig's rest pose faces -y (BVH's +Z once turned Y-up, as Mixamo and SMPL rigs face) with its left
at +x; every local rotation is relative to it, so all-zero channels show the rest pose.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from motion.clip import Clip
from motion.errors import InputError
from motion.geometry import facing_direction, rotate_about_up, to_local_frame
from motion.rotations import fit_rotation, nearest_rotation
from motion.skeleton import Skeleton, detect_preset, load_preset, preset_rest, preset_roles

POSITION_CHANNELS = ("Xposition", "Yposition", "Zposition")
DEFAULT_ORDER = "ZXY"
"""Euler order of the rotation channels a rig gets unless a BVH file gives its own."""

SNAP_DEGREES = 45.0
"""A bone whose average direction lies this close to an axis rests along that axis (legs down, spine up)."""

END_SITE_FRACTION = 0.5
"""An End Site continues its joint's bone by this fraction of the bone's length (a tail for the leaf's bone)."""


@dataclass(frozen=True)
class Rig:
    """What a BVH HIERARCHY holds: joints in file order, rest offsets, End Sites and channels.

    Attributes:
        skeleton: joint names and parents, every parent before its children (depth first, as
            BVH lists them).
        offsets: (joints, 3) float64 rest offset of each joint from its parent, metres, Z-up, in
            the parent's frame; the root's is its rest position.
        end_sites: (joints, 3) float64 offset of the End Site below each leaf joint, metres, Z-up
            (zero for joints with children).
        channels: each joint's channel names in file order ("Xposition", ..., "Zrotation").
        units: the units a file of this rig is written in: "cm" (BVH's usual), "m" or "mm".
        up: the up axis of its file: "y" (BVH's usual) or "z".
    """

    skeleton: Skeleton
    offsets: np.ndarray
    end_sites: np.ndarray
    channels: tuple[tuple[str, ...], ...]
    units: str = "cm"
    up: str = "y"

    def __post_init__(self) -> None:
        joints = len(self.skeleton)
        if self.offsets.shape != (joints, 3) or self.end_sites.shape != (joints, 3) or len(self.channels) != joints:
            raise ValueError(f"rig {self.skeleton.name!r}: offsets, end sites and channels must cover {joints} joints")
        if any(parent >= joint for joint, parent in enumerate(self.skeleton.parents)):
            raise ValueError(f"rig {self.skeleton.name!r}: every parent must precede its children")

    def rotation_order(self, joint: int) -> str | None:
        """The Euler order of a joint's rotation channels ("ZXY"), or None without any."""
        order = "".join(channel[0] for channel in self.channels[joint] if channel.endswith("rotation"))
        return order or None

    def has_translation(self, joint: int) -> bool:
        return any(channel in POSITION_CHANNELS for channel in self.channels[joint])

    def rest_positions(self) -> np.ndarray:
        """(joints, 3) float64 world positions of the rest pose, metres, Z-up."""
        world = np.zeros_like(self.offsets)
        for joint, parent in enumerate(self.skeleton.parents):
            world[joint] = self.offsets[joint] + (world[parent] if parent >= 0 else 0)
        return world

    def bone_lengths(self) -> np.ndarray:
        """(joints,) float64 rest length of each joint's bone from its parent (0 for a root)."""
        lengths = np.linalg.norm(self.offsets, axis=-1)
        return np.where(np.array(self.skeleton.parents) < 0, 0.0, lengths)


def depth_first(parents: Sequence[int]) -> list[int]:
    """Joint indices in depth-first order from each root, children in their listed order (BVH's order)."""
    children: dict[int, list[int]] = {}
    for joint, parent in enumerate(parents):
        children.setdefault(parent, []).append(joint)
    order: list[int] = []
    stack = list(reversed(children.get(-1, [])))
    while stack:
        joint = stack.pop()
        order.append(joint)
        stack.extend(reversed(children.get(joint, [])))
    if len(order) != len(parents):
        raise InputError("the skeleton's parents form a cycle")
    return order


def reordered(skeleton: Skeleton, order: Sequence[int]) -> Skeleton:
    """The skeleton with its joints in `order` (parents renumbered)."""
    position = {old: new for new, old in enumerate(order)}
    parents = tuple(position[skeleton.parents[old]] if skeleton.parents[old] >= 0 else -1 for old in order)
    return Skeleton(skeleton.name, tuple(skeleton.joints[old] for old in order), parents)


def default_channels(skeleton: Skeleton, order: str = DEFAULT_ORDER) -> tuple[tuple[str, ...], ...]:
    """Root translation and rotation, rotation only below it."""
    rotation = tuple(f"{axis}rotation" for axis in order)
    return tuple((POSITION_CHANNELS + rotation) if parent < 0 else rotation for parent in skeleton.parents)


def end_sites_for(skeleton: Skeleton, offsets: np.ndarray) -> np.ndarray:
    """End Sites continuing each leaf's bone by END_SITE_FRACTION of its length."""
    has_child = {parent for parent in skeleton.parents if parent >= 0}
    ends = np.zeros_like(offsets)
    for joint in range(len(skeleton)):
        if joint not in has_child and skeleton.parents[joint] >= 0:
            ends[joint] = offsets[joint] * END_SITE_FRACTION
    return ends


def rig_from_clip(clip: Clip, order: str = DEFAULT_ORDER) -> Rig:
    """A rig with the clip's own proportions in a T-pose.

    Bone lengths are the clip's medians. The bones from a joint with several children (hips,
    chest) keep the clip's average rigid shape (a Procrustes mean), so those joints can be solved
    exactly; the arms below the shoulders stretch sideways; every other bone takes its average
    direction in the character's frame, snapped onto an axis within SNAP_DEGREES (legs down,
    spine up) unless it ends the chain (feet, head). A root with one child (Bandai's joint_Root)
    rests on the ground below it, and that child gets position channels of its own, as the clip's
    root point and body move apart.

    Args:
        clip: a clip on a preset skeleton (its roles name the shoulders that define facing).
        order: Euler order of the rotation channels.
    Raises:
        InputError: the clip's skeleton is no preset, or the clip has no fully observed frame.
    """
    preset = detect_preset(clip.skeleton.joints)
    if preset is None:
        raise InputError(
            f"{clip.source}: skeleton {clip.skeleton.name!r} is no preset, so its rest pose is unknown; "
            "pass --like FILE.bvh or --skeleton NAME"
        )
    skeleton = _with_preset_parents(clip.skeleton, preset)
    order_index = depth_first(skeleton.parents)
    skeleton = reordered(skeleton, order_index)
    positions = torch.from_numpy(np.ascontiguousarray(clip.positions[:, order_index], dtype=np.float32))
    complete = ~torch.isnan(positions).any(dim=(1, 2))
    if not complete.any():
        raise InputError(f"{clip.source}: no frame has every joint; the rig's proportions need one")
    positions = positions[complete]
    roles = {role: skeleton.index(load_preset(preset).joints[i]) for role, i in preset_roles(preset).items()}
    facing = facing_direction(positions[:, roles["left_shoulder"]], positions[:, roles["right_shoulder"]])
    local = to_local_frame(positions, positions[:, roles["root"]], facing)  # (frames, joints, 3), facing +x

    parents = skeleton.parents
    children = [[j for j, p in enumerate(parents) if p == joint] for joint in range(len(parents))]
    arm_side = _arm_sides(parents, roles)
    offsets = np.zeros((len(parents), 3))
    root = parents.index(-1)
    if len(children[root]) == 1:
        # A root with one child (Bandai's joint_Root) is a ground point: it rests below that child.
        offsets[children[root][0]] = [0.0, 0.0, float(local[:, children[root][0], 2].median())]
    else:
        offsets[root] = [0.0, 0.0, float(local[:, root, 2].median())]
    for joint, kids in enumerate(children):
        if len(kids) >= 2:
            offsets[kids] = _procrustes_mean(local[:, kids] - local[:, joint, None]).numpy()
        elif len(kids) == 1 and joint != root:
            bone = local[:, kids[0]] - local[:, joint]
            length = float(bone.norm(dim=-1).median())
            terminal = not children[kids[0]]
            offsets[kids[0]] = _rest_direction(bone, arm_side.get(kids[0]), snap=not terminal) * length
    # Turn the rest pose from the character frame (facing +x) to the rig's (facing -y).
    turned = rotate_about_up(torch.from_numpy(offsets), torch.tensor(0.0), torch.tensor(-1.0)).numpy()
    channels = default_channels(skeleton, order)
    if len(children[root]) == 1:  # the ground point and the body move apart: the body keeps its translation
        child = children[root][0]
        channels = channels[:child] + (POSITION_CHANNELS + channels[child],) + channels[child + 1 :]
    rig = Rig(skeleton, turned, end_sites_for(skeleton, turned), channels)
    # Stand the rest pose on the floor (straight legs reach lower than the clip's bent ones).
    standing = children[root][0] if len(children[root]) == 1 else root
    turned[standing, 2] -= rig.rest_positions()[:, 2].min()
    return rig


def preset_rig(name: str, order: str = DEFAULT_ORDER) -> Rig:
    """The rig of a preset from its shipped rest pose (`rest` in skeletons/NAME.json, metres, Z-up, facing -y)."""
    rest = preset_rest(name)
    if rest is None:
        raise InputError(f"skeleton preset {name!r} ships no rest pose")
    skeleton = load_preset(name)
    order_index = depth_first(skeleton.parents)
    skeleton = reordered(skeleton, order_index)
    offsets = np.array([rest[joint] for joint in skeleton.joints], np.float64)
    return Rig(skeleton, offsets, end_sites_for(skeleton, offsets), default_channels(skeleton, order))


def _with_preset_parents(skeleton: Skeleton, preset: str) -> Skeleton:
    """The clip's joints in its own order with the preset's hierarchy (a CSV carries none)."""
    reference = load_preset(preset)
    parent_name = {
        joint: (reference.joints[p] if p >= 0 else None) for joint, p in zip(reference.joints, reference.parents)
    }
    parents = tuple(skeleton.index(parent_name[j]) if parent_name[j] else -1 for j in skeleton.joints)
    return Skeleton(preset, skeleton.joints, parents)


def _arm_sides(parents: Sequence[int], roles: dict[str, int]) -> dict[int, float]:
    """+1 for joints below the left shoulder, -1 below the right one: their bones stretch sideways."""
    sides: dict[int, float] = {}
    for joint in range(len(parents)):
        ancestor = parents[joint]
        while ancestor >= 0:
            if ancestor == roles["left_shoulder"]:
                sides[joint] = 1.0
            elif ancestor == roles["right_shoulder"]:
                sides[joint] = -1.0
            ancestor = parents[ancestor]
    return sides


def _rest_direction(bone: torch.Tensor, arm_side: float | None, snap: bool) -> np.ndarray:
    """The unit rest direction of a bone from its (frames, 3) vectors in the character frame."""
    if arm_side is not None:
        return np.array([0.0, arm_side, 0.0])  # the character's left is +y
    mean = (bone / bone.norm(dim=-1, keepdim=True).clamp_min(1e-9)).mean(0)
    mean = mean / mean.norm().clamp_min(1e-9)
    axis = int(mean.abs().argmax())
    if snap and float(mean[axis].abs()) >= np.cos(np.radians(SNAP_DEGREES)):
        snapped = np.zeros(3, np.float32)
        snapped[axis] = 1.0 if float(mean[axis]) > 0 else -1.0
        return snapped
    return mean.double().numpy()


def _procrustes_mean(vectors: torch.Tensor, iterations: int = 3) -> torch.Tensor:
    """The rigid average of (frames, n, 3) vector sets: each frame turned onto a common shape, then
    averaged, the shape finally turned by the frames' mean rotation."""
    shape = vectors[0]
    for _ in range(iterations):
        turn = fit_rotation(vectors, shape.expand_as(vectors))  # (frames, 3, 3) frame onto shape
        shape = (turn[:, None] @ vectors[..., None])[..., 0].mean(0)
    mean_turn = nearest_rotation(turn.transpose(-1, -2).mean(0))  # the mean of the shape-to-frame turns
    return (mean_turn @ shape[..., None])[..., 0]
