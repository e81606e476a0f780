"""Joint rotations from joint positions: each bone turned from its rest direction onto the observed one,
with the twist about it pinned by a neighbouring joint, and forward kinematics back to positions.

A joint with several observed children (hips, chest) takes the rotation that best fits all of them
(Kabsch), which is exact for a rigid cluster. A joint with one (a limb, the neck) takes the
smallest turn from its parent's frame onto the bone, then the twist about the bone that brings the
plane its child's own bone pins (the knee and elbow bending planes, the foot against the shin, the
shoulders against the spine) where that plane sits on average; as the chain straightens and the
plane degenerates, the twist carries on from the frames on either side where it is pinned. Joints
the positions lack (a Chest, a Root) follow their parent. Everything is vectorised over frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from motion.geometry import forward_kinematics
from motion.rig import Rig
from motion.rotations import axis_angle_to_matrix, fit_rotation, nearest_rotation, rotation_between

PIN_SINES = (np.sin(np.radians(15.0)), np.sin(np.radians(40.0)))
"""A bend below the first sine pins no twist, one above the second pins it fully; linear between
(where it does not, the twist is interpolated in time from the pinned frames)."""

COLLINEAR_SINE = np.sin(np.radians(10.0))
"""Rest vectors closer than this to one line do not pin a rotation between them."""

RIGID = 1e-4
"""Metres a bone's length may vary over a clip and still pin its parent's rotation."""


@dataclass(frozen=True)
class Animation:
    """Joint rotations on a rig: what a BVH's MOTION section holds.

    Attributes:
        rig: the hierarchy, rest pose and channels.
        local_rot: (frames, joints, 3, 3) float32 rotation of each joint relative to its parent
            (the root's: to the world), Z-up, taking rest-pose vectors to posed ones.
        local_pos: (frames, joints, 3) float32 translation of each joint in its parent's frame
            (the root's: its world position), metres, Z-up; rig.offsets where a joint has no
            position channels.
        fps: frames per second.
    """

    rig: Rig
    local_rot: Tensor
    local_pos: Tensor
    fps: float

    @property
    def frames(self) -> int:
        return self.local_rot.shape[0]

    def world_positions(self) -> np.ndarray:
        """(frames, joints, 3) float32 joint positions, metres, Z-up (forward kinematics)."""
        return forward_kinematics(self.local_rot, self.local_pos, self.rig.skeleton.parents).numpy()

    def world_rotations(self) -> Tensor:
        """(frames, joints, 3, 3) rotation of each joint relative to the world."""
        world: list[Tensor] = []
        for joint, parent in enumerate(self.rig.skeleton.parents):
            local = self.local_rot[:, joint]
            world.append(local if parent < 0 else world[parent] @ local)
        return torch.stack(world, dim=1)


def positions_to_rotations(
    positions: np.ndarray,
    rig: Rig,
    fps: float,
    translations: bool = False,
    reference: Tensor | None = None,
    heading: Tensor | None = None,
) -> Animation:
    """Solve a rig's joint rotations so that its forward kinematics follows the given positions.

    Directions are matched exactly wherever the rig's rest pose allows (one child; several children
    whose rest shape the positions keep), so the residual is only the difference in bone lengths.

    Args:
        positions: (frames, joints, 3) float32 metres, Z-up, in rig.skeleton's joint order; a joint
            the source lacks is NaN in every frame (it follows its parent).
        rig: the target hierarchy and rest pose.
        fps: frames per second.
        translations: joints with position channels whose distance from the parent varies (by more
            than RIGID: Bandai's Hips above its ground point) take their observed offset from the
            parent instead of the rest offset, and do not pin the parent's rotation; for a clip read
            from a BVH of this rig, so that its positions are followed exactly.
        reference: (frames, joints, 3, 3) local rotations to stay close to (a file's own, when only
            some frames are re-solved): each bone then takes the smallest turn from it, and no
            twist is pinned.
        heading: (frames, 3, 3) turn about the vertical from the rest pose's facing to the
            character's, for a root with one child (a point on the floor, such as Bandai's
            joint_Root, which carries the facing as game engines' root motion does); None: such a
            root is solved like any other joint (or, when its child has its own translation, keeps
            its rest orientation).
    Returns:
        the Animation; the root is placed at its observed position, or, where it is lacking or has
        one child without position channels, so that that child lands on its observed position.
    Raises:
        ValueError: a joint observed in some frames only (fill the gaps first).
    """
    world = torch.from_numpy(np.ascontiguousarray(positions, dtype=np.float32))
    frames, joints = world.shape[:2]
    lacking = torch.isnan(world).all(dim=(0, 2))
    partial = torch.isnan(world).any(dim=(0, 2)) & ~lacking
    if partial.any():
        raise ValueError(f"joint {rig.skeleton.joints[int(partial.nonzero()[0])]!r} is missing in some frames only")
    parents = rig.skeleton.parents
    offsets = torch.from_numpy(rig.offsets).float()
    children = [[j for j, p in enumerate(parents) if p == joint] for joint in range(joints)]
    # A joint without rotation channels cannot turn: its parent is turned onto its children too.
    fixed = torch.tensor([rig.rotation_order(joint) is None for joint in range(joints)])
    targets = [_observed_descendants(joint, children, offsets, lacking, fixed) for joint in range(joints)]
    carried = _carried(world, rig, lacking) if translations else torch.zeros(joints, dtype=torch.bool)

    eye = torch.eye(3).expand(frames, 3, 3)
    local_rot = torch.empty(frames, joints, 3, 3)
    local_pos = offsets.expand(frames, joints, 3).clone()
    world_rot: list[Tensor] = []
    world_pos: list[Tensor] = []
    for joint, parent in enumerate(parents):
        parent_rot = world_rot[parent] if parent >= 0 else eye
        guess = parent_rot @ (reference[:, joint] if reference is not None else eye)
        own = targets[joint] if not lacking[joint] else []
        pinning = [(k, rest) for k, rest in own if not carried[k]]
        ground_root = parent < 0 and len(children[joint]) == 1
        if ground_root and heading is not None:
            rotation = heading
        elif not pinning or fixed[joint]:
            rotation = guess
        elif len(pinning) >= 2 and _spread(
            torch.stack([rest for _, rest in pinning]), _below_fixed(joint, pinning, parents, fixed)
        ):
            rest = torch.stack([rest / rest.norm() for _, rest in pinning])  # (n, 3)
            seen = torch.stack([world[:, k] - world[:, joint] for k, _ in pinning], dim=1)  # (frames, n, 3)
            seen = seen / seen.norm(dim=-1, keepdim=True).clamp_min(1e-9)
            rotation = fit_rotation(rest.expand_as(seen), seen)
        else:
            child, rest = pinning[0]
            bone = world[:, child] - world[:, joint]
            rotation = rotation_between((guess @ rest[:, None])[..., 0], bone) @ guess
            if reference is None:
                rotation = rotation @ _pinned_twist(rotation, rest, bone, child, targets, world)
                # Once more from the joint's typical pose, so that the smallest turn onto the bone is
                # small: from the rest pose it may be near a half turn, whose axis is ill-defined.
                typical = nearest_rotation((parent_rot.transpose(-1, -2) @ rotation).mean(0))
                guess = parent_rot @ typical
                rotation = rotation_between((guess @ rest[:, None])[..., 0], bone) @ guess
                rotation = rotation @ _pinned_twist(rotation, rest, bone, child, targets, world)
        local_rot[:, joint] = parent_rot.transpose(-1, -2) @ rotation
        world_rot.append(rotation)

        if parent < 0:
            local_pos[:, joint] = _root_position(joint, own, rotation, world, lacking, rig, translations)
        elif carried[joint]:
            local_pos[:, joint] = (parent_rot.transpose(-1, -2) @ (world[:, joint] - world_pos[parent])[..., None])[
                ..., 0
            ]
        if parent >= 0:
            world_pos.append(world_pos[parent] + (parent_rot @ local_pos[:, joint, :, None])[..., 0])
        else:
            world_pos.append(local_pos[:, joint])
    return Animation(rig, local_rot, local_pos, fps)


def _observed_descendants(
    joint: int, children: list[list[int]], offsets: Tensor, lacking: Tensor, fixed: Tensor
) -> list[tuple[int, Tensor]]:
    """The nearest observed joints below `joint`, each with its rest vector from `joint`, through
    any joints between that are lacking or cannot turn (both keep their rest pose); an observed
    joint that cannot turn counts, and so do the joints below it."""
    found: list[tuple[int, Tensor]] = []
    stack = [(child, offsets[child]) for child in reversed(children[joint])]
    while stack:
        child, rest = stack.pop()
        if not lacking[child]:
            found.append((child, rest))
        if lacking[child] or fixed[child]:
            stack.extend((grandchild, rest + offsets[grandchild]) for grandchild in reversed(children[child]))
    return [(child, rest) for child, rest in found if float(rest.norm()) > 1e-6]


def _carried(world: Tensor, rig: Rig, lacking: Tensor) -> Tensor:
    """(joints,) bool: joints placed by their own translation channels, because their distance from
    the parent varies by more than RIGID (Bandai's Hips above the ground point joint_Root) or is
    not the rest offset's length; they do not pin their parent's rotation."""
    carried = torch.zeros(len(rig.skeleton), dtype=torch.bool)
    for joint, parent in enumerate(rig.skeleton.parents):
        if parent >= 0 and rig.has_translation(joint) and not lacking[joint] and not lacking[parent]:
            distance = (world[:, joint] - world[:, parent]).norm(dim=-1)
            rest = float(np.linalg.norm(rig.offsets[joint]))
            carried[joint] = bool(
                (distance - distance.median()).abs().max() > RIGID or abs(distance.median() - rest) > RIGID
            )
    return carried


def _spread(rest: Tensor, must: bool = False) -> bool:
    """Whether (n, 3) rest vectors span more than a line (so they pin a full rotation); `must`: they
    lie below a joint that cannot turn, which leaves no other way to pin the twist, so any spread
    beyond rounding (COLLINEAR_SINE is for a choice between two ways) counts."""
    units = rest / rest.norm(dim=-1, keepdim=True)
    spread = torch.linalg.cross(units[:1].expand_as(units), units).norm(dim=-1).max()
    return bool(spread > (1e-4 if must else COLLINEAR_SINE))


def _below_fixed(joint: int, pinning: list[tuple[int, Tensor]], parents, fixed: Tensor) -> bool:
    """Whether any of the pinning joints is reached through a joint that cannot turn."""
    for target, _ in pinning:
        ancestor = parents[target]
        while ancestor != joint:
            if fixed[ancestor]:
                return True
            ancestor = parents[ancestor]
    return False


def _pinned_twist(
    rotation: Tensor,
    rest: Tensor,
    bone: Tensor,
    child: int,
    targets: list[list[tuple[int, Tensor]]],
    world: Tensor,
) -> Tensor:
    """(frames, 3, 3) twist about the rest bone that turns the bending plane of the child's bone to
    where it sits in the rest pose (or, where the rest chain is straight, on average).

    Args:
        rotation: (frames, 3, 3) the joint's world rotation so far, taking `rest` onto `bone`.
        rest: (3,) the rest vector to the child in the joint's frame.
        bone: (frames, 3) the observed vector to the child.
    """
    frames = bone.shape[0]
    axis = rest / rest.norm()
    pins = targets[child]
    if not pins:
        return torch.eye(3).expand(frames, 3, 3)
    bone_unit = bone / bone.norm(dim=-1, keepdim=True).clamp_min(1e-9)
    normals = []
    for pin, _ in pins:
        onward = world[:, pin] - world[:, child]
        normals.append(torch.linalg.cross(bone_unit, onward / onward.norm(dim=-1, keepdim=True).clamp_min(1e-9)))
    strength = torch.stack([n.norm(dim=-1).median() for n in normals])
    best = int(strength.argmax())
    normal = normals[best]  # (frames, 3) world normal of the bending plane; its norm is the bend's sine
    local = (rotation.transpose(-1, -2) @ normal[..., None])[..., 0]  # in the joint's rest frame
    local = local - (local @ axis)[:, None] * axis

    rest_normal = torch.linalg.cross(axis, pins[best][1] / pins[best][1].norm())
    if float(rest_normal.norm()) > PIN_SINES[1]:
        home = rest_normal / rest_normal.norm()
    else:  # a straight rest chain (a T-pose arm or leg): the plane's average place
        home = local.sum(0)
        if float(home.norm()) < 1e-6 * frames:
            return torch.eye(3).expand(frames, 3, 3)
        home = home / home.norm()
    angle = torch.atan2((torch.linalg.cross(home.expand_as(local), local) @ axis), local @ home)
    weight = ((normal.norm(dim=-1) - PIN_SINES[0]) / (PIN_SINES[1] - PIN_SINES[0])).clamp(0.0, 1.0)
    return axis_angle_to_matrix(axis.expand(frames, 3), _bridged_twist(angle, weight))


def _bridged_twist(angle: Tensor, weight: Tensor) -> Tensor:
    """(frames,) twist angles, radians: `angle` where the plane pins it (weight 1); across frames
    where it does not, the angle interpolated in time between the pinned frames on either side (held
    at the ends; zero if no frame is pinned), blended back towards `angle` as the weight rises.

    The angles are unwrapped in time over the frames with any weight first, so that the blend is
    continuous however far the plane turns; frames without weight, where the plane is undefined,
    are skipped, so their noise cannot add a turn.

    Args:
        angle: (frames,) the twist each frame's plane asks for, radians in (-pi, pi].
        weight: (frames,) how firmly the plane pins it, 0 to 1.
    """
    weights = weight.double().numpy()
    pinned = np.flatnonzero(weights >= 1.0)
    if len(pinned) == 0:
        return torch.zeros_like(angle)
    weighed = np.flatnonzero(weights > 0.0)
    unwrapped = np.zeros(len(weights))
    unwrapped[weighed] = np.unwrap(angle.double().numpy()[weighed])
    between = np.interp(np.arange(len(weights)), pinned, unwrapped[pinned])
    return torch.from_numpy(between + weights * (unwrapped - between)).to(angle.dtype)


def _root_position(
    root: int,
    own: list[tuple[int, Tensor]],
    rotation: Tensor,
    world: Tensor,
    lacking: Tensor,
    rig: Rig,
    translations: bool,
) -> Tensor:
    """(frames, 3) the root's world position (see positions_to_rotations)."""
    through_root = len(own) == 1 and not (translations and rig.has_translation(own[0][0]))
    if own and (lacking[root] or through_root):
        child, rest = own[0]
        return world[:, child] - (rotation @ rest[:, None])[..., 0]
    if lacking[root]:
        return torch.zeros(world.shape[0], 3)
    return world[:, root].clone()
