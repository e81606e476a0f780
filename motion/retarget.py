"""A clip onto a rig: the clip's own rig, a preset's or a BVH file's, as joint rotations ready to write.

On a rig with the clip's own joints and bone lengths the positions are followed exactly. Onto
another skeleton, or other proportions, the joints match by name, by a joint map the user gives,
or through both presets' maps to laforge20 (joints the source lacks, a Chest or a Root, follow
their parent); the proportions are the target's, the root's path is scaled by the ratio of leg
lengths and the whole take is shifted so that the feet stay on the floor as they were.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
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


def clip_to_animation(
    clip: Clip, rig: Rig | None = None, order: str = DEFAULT_ORDER, joint_map: Mapping[str, str] | None = None
) -> Animation:
    """The clip as joint rotations on a rig.

    Args:
        clip: positions (frames, joints, 3) metres, Z-up, with no gaps.
        rig: the target; None builds one from the clip (motion.rig.rig_from_clip: its median bone
            lengths in a T-pose).
        order: the Euler order of that rig's rotation channels (a given rig has its own).
        joint_map: {rig joint: clip joint} for a rig whose joints are neither the clip's nor a
            preset's (load_rig_map); the rig's joints it leaves out follow their parent.
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
    sources = _matched_joints(clip, rig, joint_map)
    positions = np.full((clip.frames, len(rig.skeleton), 3), np.nan, np.float32)
    for target, source in sources.items():
        positions[:, target] = clip.positions[:, source]
    heading = _heading(clip, rig, sources)
    if len(sources) == len(rig.skeleton) and _same_proportions(positions, rig):
        return positions_to_rotations(positions, rig, clip.fps, translations=True, heading=heading)

    legs = _legs(clip, sources)
    scale = _leg_length(rig.rest_positions(), [[t for t, _ in leg] for leg in legs])
    scale /= float(np.mean([_clip_leg_length(clip, [s for _, s in leg]) for leg in legs]))
    animation = positions_to_rotations(positions * np.float32(scale), rig, clip.fps, heading=heading)
    # Keep the feet on the floor: shift the take so that its lowest matched joint sits where the source's did.
    matched = sorted(sources)
    lowest = np.median(animation.world_positions()[:, matched, UP_AXIS].min(axis=1))
    wanted = np.median(clip.positions[:, [sources[t] for t in matched], UP_AXIS].min(axis=1)) * scale
    root = rig.skeleton.parents.index(-1)
    animation.local_pos[:, root, UP_AXIS] += float(wanted - lowest)
    return animation


def load_rig_map(path: str | Path) -> dict[str, str]:
    """A joint map onto a rig: JSON `{"joints": {rig_joint: clip_joint, ...}}` (any subset of the rig's joints).

    Raises:
        InputError: naming the file and what is wrong.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"{path}: no such joint map") from None
    except json.JSONDecodeError as err:
        raise InputError(f"{path}:{err.lineno}: not valid JSON ({err.msg})") from None
    joints = data.get("joints") if isinstance(data, dict) else None
    if not isinstance(joints, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in joints.items()):
        raise InputError(f'{path}: expected {{"joints": {{rig_joint: clip_joint, ...}}}}')
    return dict(joints)


def _matched_joints(clip: Clip, rig: Rig, joint_map: Mapping[str, str] | None) -> dict[int, int]:
    """Rig joint index -> clip joint index: by the user's map, by name, or through both skeletons'
    preset maps to laforge20."""
    if joint_map is not None:
        for rig_joint, clip_joint in joint_map.items():
            if rig_joint not in rig.skeleton.joints:
                raise InputError(f"joint map: the rig has no joint {rig_joint!r}")
            if clip_joint not in clip.skeleton.joints:
                raise InputError(f"joint map: {clip.source} has no joint {clip_joint!r}")
        return {rig.skeleton.index(t): clip.skeleton.index(s) for t, s in joint_map.items()}
    if set(rig.skeleton.joints) <= set(clip.skeleton.joints):
        return {target: clip.skeleton.index(joint) for target, joint in enumerate(rig.skeleton.joints)}
    source, target = detect_preset(clip.skeleton.joints), detect_preset(rig.skeleton.joints)
    for preset, what, joints in ((source, clip.source, clip.skeleton.joints), (target, "the rig", rig.skeleton.joints)):
        if preset is None:
            raise InputError(
                f"{what}: joints {', '.join(joints[:4])}, ... match no preset, so they cannot be matched "
                "to the other skeleton's; pass --joint-map FILE.json ({rig joint: clip joint})"
            )
    from_source = preset_joint_map(source, TRAINING_SKELETON).sources
    from_target = preset_joint_map(target, TRAINING_SKELETON).sources
    return {rig.skeleton.index(t): clip.skeleton.index(s) for s, t in zip(from_source, from_target, strict=True)}


def _roles(clip: Clip) -> dict[str, int]:
    """The clip's joints that play laforge20's roles (hips, shoulders, legs), by name; InputError
    where the clip's skeleton is no preset."""
    preset = detect_preset(clip.skeleton.joints)
    if preset is None:
        raise InputError(
            f"{clip.source}: joints {', '.join(clip.skeleton.joints[:4])}, ... match no preset, so its legs and "
            "shoulders are unknown and other proportions cannot be matched; export onto its own skeleton"
        )
    mapping = preset_joint_map(preset, TRAINING_SKELETON)
    return {name: clip.skeleton.index(source) for name, source in zip(mapping.target.joints, mapping.sources)}


def _legs(clip: Clip, sources: dict[int, int]) -> list[list[tuple[int, int]]]:
    """Each leg's hip, knee and ankle as (rig joint, clip joint) pairs."""
    roles = _roles(clip)
    rig_of = {source: target for target, source in sources.items()}
    legs = []
    for side in ("left", "right"):
        leg = [roles[f"{side}_{part}"] for part in LEG]
        if any(joint not in rig_of for joint in leg):
            names = ", ".join(clip.skeleton.joints[j] for j in leg)
            raise InputError(f"the rig has no joints for the clip's {side} leg ({names}); map them with --joint-map")
        legs.append([(rig_of[joint], joint) for joint in leg])
    return legs


def _leg_length(rest: np.ndarray, legs: list[list[int]]) -> float:
    """Mean over the legs of hip-to-knee plus knee-to-ankle in the rest pose (joints, 3), metres."""
    return float(np.mean([sum(np.linalg.norm(rest[b] - rest[a]) for a, b in zip(leg, leg[1:])) for leg in legs]))


def _clip_leg_length(clip: Clip, leg: list[int]) -> float:
    """Hip-to-knee plus knee-to-ankle of the clip, each its median over frames, metres."""
    return sum(
        float(np.median(np.linalg.norm(clip.positions[:, b] - clip.positions[:, a], axis=-1)))
        for a, b in zip(leg, leg[1:])
    )


def _heading(clip: Clip, rig: Rig, sources: dict[int, int]) -> torch.Tensor | None:
    """(frames, 3, 3) turn about the vertical from the rig's rest facing to the clip's facing (the
    project's convention: across the shoulders), for a rig whose root has one child; else None."""
    root = rig.skeleton.parents.index(-1)
    preset = detect_preset(clip.skeleton.joints)
    if rig.skeleton.parents.count(root) != 1 or preset is None:
        return None
    roles = preset_roles(preset)
    shoulders = [
        clip.skeleton.index(load_preset(preset).joints[roles[side]]) for side in ("left_shoulder", "right_shoulder")
    ]
    rig_of = {source: target for target, source in sources.items()}
    if any(joint not in rig_of for joint in shoulders):
        return None
    positions = torch.from_numpy(clip.positions)
    facing = facing_direction(positions[:, shoulders[0]], positions[:, shoulders[1]])
    rest = torch.from_numpy(rig.rest_positions()).float()
    rest_facing = facing_direction(rest[rig_of[shoulders[0]]], rest[rig_of[shoulders[1]]])
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


def write_clip_bvh(
    clip: Clip,
    path: str | Path,
    rig: Rig | None = None,
    order: str = DEFAULT_ORDER,
    joint_map: Mapping[str, str] | None = None,
) -> Animation:
    """Write a clip as BVH on a rig (clip_to_animation, then motion.formats.bvh.write_bvh); returns the animation."""
    animation = clip_to_animation(clip, rig, order, joint_map)
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
