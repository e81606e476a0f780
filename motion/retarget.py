"""A clip onto a rig: the clip's own rig, a preset's or a BVH file's, as joint rotations ready to write.

On a rig with the clip's own joints and bone lengths the positions are followed exactly. Onto
another skeleton, or other proportions, the joints match by name or through both presets' maps to laforge20 (joints the source
lacks, a Chest or a Root, follow their parent), the proportions are the target's, the root's path
is scaled by the ratio of leg lengths and the whole take is shifted so that the feet stay on the
floor as they were.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from motion.clip import Clip
from motion.conventions import TRAINING_SKELETON, UP_AXIS
from motion.errors import InputError
from motion.formats.bvh import read_bvh_file, write_bvh
from motion.geometry import facing_direction
from motion.joint_rotations import Animation, positions_to_rotations
from motion.rig import DEFAULT_ORDER, POSITION_CHANNELS, Rig, preset_rig, rig_from_clip
from motion.rotations import axis_angle_to_matrix
from motion.skeleton import detect_preset, load_preset, preset_joint_map, preset_roles

SAME_LENGTH = 1e-3
"""Metres by which a rig's bone may differ from a clip's median and still count as the clip's own."""

LEG = ("upper_leg", "lower_leg", "foot")
"""laforge20's hip, knee and ankle joints (after "left_" or "right_"): a leg's length runs through them."""


def clip_to_animation(clip: Clip, rig: Rig | None = None, order: str = DEFAULT_ORDER) -> Animation:
    """The clip as joint rotations on a rig.

    Args:
        clip: positions (frames, joints, 3) metres, Z-up, with no gaps.
        rig: the target; None builds one from the clip (motion.rig.rig_from_clip: its median bone
            lengths in a T-pose).
        order: the Euler order of that rig's rotation channels (a given rig has its own).
    Returns:
        the Animation, at the clip's frame rate.
    Raises:
        InputError: the clip has gaps, or its joints cannot be matched to the rig's.
    """
    if clip.frames == 0:
        raise InputError(f"{clip.source}: has no frames")
    if np.isnan(clip.positions).any():
        raise InputError(f"{clip.source}: has empty values; fill them first (motion impute)")
    rig = rig or rig_from_clip(clip, _checked_order(order))
    names = set(clip.skeleton.joints)
    if all(joint in names for joint in rig.skeleton.joints):
        sources = {target: clip.skeleton.index(joint) for target, joint in enumerate(rig.skeleton.joints)}
    else:
        sources = _matched_joints(clip, rig)
    positions = np.full((clip.frames, len(rig.skeleton), 3), np.nan, np.float32)
    for target, source in sources.items():
        positions[:, target] = clip.positions[:, source]
    heading = _heading(clip, rig)
    if len(sources) == len(rig.skeleton) and _same_proportions(positions, rig):
        return positions_to_rotations(positions, rig, clip.fps, translations=True, heading=heading)

    scale = _leg_length(rig) / _clip_leg_length(clip)
    animation = positions_to_rotations(positions * np.float32(scale), rig, clip.fps, heading=heading)
    # Keep the feet on the floor: shift the take so that its lowest matched joint sits where the source's did.
    matched = sorted(sources)
    lowest = np.median(animation.world_positions()[:, matched, UP_AXIS].min(axis=1))
    wanted = np.median(clip.positions[:, [sources[t] for t in matched], UP_AXIS].min(axis=1)) * scale
    root = rig.skeleton.parents.index(-1)
    animation.local_pos[:, root, UP_AXIS] += float(wanted - lowest)
    return animation


def _heading(clip: Clip, rig: Rig) -> torch.Tensor | None:
    """(frames, 3, 3) turn about the vertical from the rig's rest facing to the clip's facing (the
    project's convention: across the shoulders), for a rig whose root has one child; else None."""
    root = rig.skeleton.parents.index(-1)
    source, target = detect_preset(clip.skeleton.joints), detect_preset(rig.skeleton.joints)
    if rig.skeleton.parents.count(root) != 1 or source is None or target is None:
        return None
    seen, rest = preset_roles(source), preset_roles(target)
    names, rest_names = load_preset(source).joints, load_preset(target).joints
    positions = torch.from_numpy(clip.positions)
    facing = facing_direction(
        positions[:, clip.skeleton.index(names[seen["left_shoulder"]])],
        positions[:, clip.skeleton.index(names[seen["right_shoulder"]])],
    )
    rest_positions = torch.from_numpy(rig.rest_positions()).float()
    rest_facing = facing_direction(
        rest_positions[rig.skeleton.index(rest_names[rest["left_shoulder"]])],
        rest_positions[rig.skeleton.index(rest_names[rest["right_shoulder"]])],
    )
    up = torch.zeros(3)
    up[UP_AXIS] = 1.0
    turn = torch.atan2(torch.linalg.cross(rest_facing.expand_as(facing), facing) @ up, facing @ rest_facing)
    return axis_angle_to_matrix(up.expand_as(facing), turn)


def _same_proportions(positions: np.ndarray, rig: Rig) -> bool:
    """Whether the rig's bones are the positions' median lengths, within SAME_LENGTH (a bone from a
    root with one child, Bandai's joint_Root, does not count, nor one a translation channel sets)."""
    parents = rig.skeleton.parents
    lengths = rig.bone_lengths()
    for joint, parent in enumerate(parents):
        if parent < 0 or (parents[parent] < 0 and parents.count(parent) == 1) or rig.has_translation(joint):
            continue  # no body part, or a joint that its own translation places
        seen = np.median(np.linalg.norm(positions[:, joint] - positions[:, parent], axis=-1))
        if abs(seen - lengths[joint]) > SAME_LENGTH:
            return False
    return True


def _matched_joints(clip: Clip, rig: Rig) -> dict[int, int]:
    """Rig joint index -> clip joint index, through both skeletons' maps to laforge20."""
    source, target = detect_preset(clip.skeleton.joints), detect_preset(rig.skeleton.joints)
    for preset, what, joints in ((source, clip.source, clip.skeleton.joints), (target, "the rig", rig.skeleton.joints)):
        if preset is None:
            raise InputError(
                f"{what}: joints {', '.join(joints[:4])}, ... match no preset, so they cannot be matched "
                "to another skeleton's; export onto its own skeleton instead"
            )
    from_source = preset_joint_map(source, TRAINING_SKELETON).sources
    from_target = preset_joint_map(target, TRAINING_SKELETON).sources
    return {rig.skeleton.index(t): clip.skeleton.index(s) for s, t in zip(from_source, from_target, strict=True)}


def _leg_names(skeleton_joints: tuple[str, ...]) -> list[tuple[str, ...]]:
    """Each leg's hip, knee and ankle joint names on a preset skeleton."""
    preset = detect_preset(skeleton_joints)
    if preset is None:
        raise InputError(
            f"joints {', '.join(skeleton_joints[:4])}, ... match no preset, so their legs are unknown and the "
            "proportions cannot be matched; export onto the clip's own skeleton or a preset"
        )
    mapping = dict(zip(preset_joint_map(preset, TRAINING_SKELETON).target.joints,
                       preset_joint_map(preset, TRAINING_SKELETON).sources, strict=True))  # fmt: skip
    return [tuple(mapping[f"{side}_{part}"] for part in LEG) for side in ("left", "right")]


def _leg_length(rig: Rig) -> float:
    rest = rig.rest_positions()
    lengths = [
        sum(np.linalg.norm(rest[rig.skeleton.index(b)] - rest[rig.skeleton.index(a)]) for a, b in zip(leg, leg[1:]))
        for leg in _leg_names(rig.skeleton.joints)
    ]
    return float(np.mean(lengths))


def _clip_leg_length(clip: Clip) -> float:
    lengths = []
    for leg in _leg_names(clip.skeleton.joints):
        for a, b in zip(leg, leg[1:]):
            bone = clip.positions[:, clip.skeleton.index(b)] - clip.positions[:, clip.skeleton.index(a)]
            lengths.append(float(np.median(np.linalg.norm(bone, axis=-1))))
    return sum(lengths) / 2


def target_rig(skeleton: str | None = None, like: str | Path | None = None, order: str | None = None) -> Rig | None:
    """The rig named on a command line: a preset's (`skeleton`), a BVH file's (`like`: its hierarchy,
    offsets, channel orders, units and rest pose, with root translation channels added if it has
    none), or None for the clip's own (clip_to_animation).

    Args:
        order: Euler order of every rotation channel; None keeps the file's or DEFAULT_ORDER.
    Raises:
        InputError: both or a bad one given.
    """
    if skeleton is not None and like is not None:
        raise InputError("give --skeleton or --like, not both")
    if order is not None:
        _checked_order(order)
    if like is not None:
        like = Path(like)
        try:
            text = like.read_text()
        except (OSError, UnicodeDecodeError) as err:
            raise InputError(f"{like}: cannot read ({err})") from None
        rig = read_bvh_file(text, str(like), like.stem).rig
        root = rig.skeleton.parents.index(-1)
        if not rig.has_translation(root):  # a template without them would lose the character's path
            channels = (POSITION_CHANNELS + rig.channels[root],) + rig.channels[root + 1 :]
            rig = replace(rig, channels=rig.channels[:root] + channels)
    elif skeleton is not None:
        rig = preset_rig(skeleton, order or DEFAULT_ORDER)
    else:
        return None
    if order is not None:
        rig = replace(rig, channels=tuple(_reordered(channels, order) for channels in rig.channels))
    return rig


def write_clip_bvh(clip: Clip, path: str | Path, rig: Rig | None = None, order: str = DEFAULT_ORDER) -> Animation:
    """Write a clip as BVH on a rig (clip_to_animation, then motion.formats.bvh.write_bvh); returns the animation."""
    animation = clip_to_animation(clip, rig, order)
    write_bvh(animation, path)
    return animation


def _checked_order(order: str) -> str:
    if len(order) != 3 or set(order) != set("XYZ"):
        raise InputError(f"--order {order!r}: expected three distinct axes of XYZ, e.g. ZXY")
    return order


def _reordered(channels: tuple[str, ...], order: str) -> tuple[str, ...]:
    positions = tuple(c for c in channels if c in POSITION_CHANNELS)
    has_rotation = any(c.endswith("rotation") for c in channels)
    return positions + (tuple(f"{axis}rotation" for axis in order) if has_rotation else ())
