"""BVH: hierarchy with OFFSETs and per-joint CHANNELS in any order, read to global positions by forward kinematics
and to the rig it holds, and written from joint rotations on a rig (motion.joint_rotations)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from motion.atomic import atomic_path
from motion.clip import Clip
from motion.conventions import UNIT_SCALE
from motion.errors import InputError
from motion.formats.numbers import parse_numbers
from motion.geometry import euler_to_matrix, forward_kinematics, y_up_to_z_up, z_up_to_y_up
from motion.joint_rotations import Animation, positions_to_rotations
from motion.rig import POSITION_CHANNELS, Rig
from motion.rotations import matrix_to_euler, nearest_rotation
from motion.skeleton import Skeleton, detect_preset

ROTATION_CHANNELS = ("Xrotation", "Yrotation", "Zrotation")

Y_UP_TO_Z_UP = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
"""The matrix of motion.geometry.y_up_to_z_up: a rotation R in a Y-up file is C R C^T inside."""

DIGITS = 6
"""Decimals written for every OFFSET and channel value (a micrometre in centimetres; 1e-6 degrees)."""

# Plausible actor heights, in file units, for telling metres from centimetres from millimetres.
HEIGHT_RANGES = {"m": (0.3, 3.0), "cm": (30.0, 300.0), "mm": (300.0, 3000.0)}


@dataclass
class _Joint:
    name: str
    parent: int
    offset: tuple[float, float, float]
    channels: list[str]
    end_site: tuple[float, float, float] = (0.0, 0.0, 0.0)


@dataclass(frozen=True)
class BvhFile:
    """What a BVH file holds.

    Attributes:
        clip: its global joint positions (read_bvh).
        rig: its hierarchy, rest offsets, End Sites, channels, units and up axis.
        values: (frames, channels) float32 channel values as written, in the file's units and
            degrees.
        rows: each frame's line of text, for writing frames back unchanged.
    """

    clip: Clip
    rig: Rig
    values: np.ndarray
    rows: list[str]


def read_bvh(text: str, where: str, name: str, units: str | None = None, up: str = "y") -> Clip:
    """Read a BVH file to a clip of global joint positions (End Sites are left out).

    Joints with position channels take their translation from them (replacing the OFFSET,
    as BVH defines); the others use their OFFSET. Rotations compose in channel order.

    Args:
        text: the whole file.
        where: file name for error messages and the clip's source.
        name: clip name.
        units: "m", "cm" or "mm"; None tells them from the skeleton's height.
        up: the file's up axis, "y" (BVH's usual, converted to Z-up) or "z".
    Returns:
        Clip with positions (frames, joints, 3) float32, metres, Z-up.
    Raises:
        InputError: naming the line and the joint or field at fault.
    """
    return read_bvh_file(text, where, name, units, up).clip


def read_bvh_file(text: str, where: str, name: str, units: str | None = None, up: str = "y") -> BvhFile:
    """Read a BVH file to its clip, its rig and its channel values (arguments as read_bvh)."""
    lines = text.splitlines()
    joints, motion_line = _parse_hierarchy(lines, where)
    frames, frame_time, data_line = _parse_motion_header(lines, motion_line, where)
    channel_count = sum(len(j.channels) for j in joints)
    values = _numbers_after(text, data_line, where, channel_count)
    if values.shape[0] < frames:
        raise InputError(f"{where}: header says {frames} frames but {values.shape[0]} rows follow")
    values = values[:frames]

    positions = _forward_kinematics(joints, torch.from_numpy(values))
    world = positions.numpy()
    if units is None:
        # A file of no frames (a rig template) is told its units by its rest pose.
        shown = world if len(world) else _forward_kinematics(joints, _rest_values(joints)).numpy()
        units = _detect_units(shown, up, where)
    scaled = torch.from_numpy(world * np.float32(UNIT_SCALE[units]))
    if up == "y":
        scaled = y_up_to_z_up(scaled)
    names = tuple(j.name for j in joints)
    skeleton = Skeleton(detect_preset(names) or "bvh", names, tuple(j.parent for j in joints))
    fps = 1.0 / frame_time
    if abs(fps - round(fps)) < 1e-3 * fps:
        fps = float(round(fps))  # writers print Frame Time with few digits: 0.0333333 means 30 fps
    clip = Clip(np.ascontiguousarray(scaled.numpy(), dtype=np.float32), skeleton, fps, where, name)
    rig = Rig(
        skeleton,
        _to_metres([j.offset for j in joints], units, up),
        _to_metres([j.end_site for j in joints], units, up),
        tuple(tuple(j.channels) for j in joints),
        units,
        up,
    )
    rows = [line for line in lines[data_line:] if line.strip()][:frames]
    return BvhFile(clip, rig, values, rows)


def _to_metres(vectors: list[tuple[float, float, float]], units: str, up: str) -> np.ndarray:
    scaled = torch.tensor(vectors, dtype=torch.float64) * UNIT_SCALE[units]
    return (y_up_to_z_up(scaled) if up == "y" else scaled).numpy()


def _numbers_after(text: str, data_line: int, where: str, per_row: int) -> np.ndarray:
    """The (rows, per_row) numbers on the lines after line `data_line` (1-based) of `text`."""
    start = 0
    for _ in range(data_line):
        start = text.index("\n", start) + 1
    return parse_numbers(text[start:], where, data_line + 1, per_row, "channel value")


def _parse_hierarchy(lines: list[str], where: str) -> tuple[list[_Joint], int]:
    joints: list[_Joint] = []
    stack: list[int] = []  # joint index per open brace; -1 for an End Site
    pending: str | None = None  # the joint whose '{' comes next; "" for an End Site
    for number, line in enumerate(lines, start=1):
        tokens = line.split()
        if not tokens:
            continue
        key = tokens[0]
        if number == 1 and key != "HIERARCHY":
            raise InputError(f"{where}:1: expected 'HIERARCHY', found {line.strip()[:40]!r}")
        if key in ("ROOT", "JOINT"):
            if len(tokens) < 2:
                raise InputError(f"{where}:{number}: {key} without a name")
            parent = next((i for i in reversed(stack) if i >= 0), -1)
            if key == "ROOT" and stack:
                raise InputError(f"{where}:{number}: ROOT inside another joint")
            pending = " ".join(tokens[1:])
            joints.append(_Joint(pending, parent, (0.0, 0.0, 0.0), []))
        elif key == "End" and len(tokens) > 1 and tokens[1] == "Site":
            pending = ""
        elif key == "{":
            if pending is None:
                raise InputError(f"{where}:{number}: '{{' without a joint")
            stack.append(len(joints) - 1 if pending else -1)
            pending = None
        elif key == "}":
            if not stack:
                raise InputError(f"{where}:{number}: unmatched '}}'")
            stack.pop()
        elif key == "OFFSET":
            if not stack:
                raise InputError(f"{where}:{number}: OFFSET outside a joint")
            try:
                offset = tuple(float(v) for v in tokens[1:4])
            except ValueError:
                raise InputError(f"{where}:{number}: OFFSET of a joint is not three numbers") from None
            if len(offset) != 3:
                raise InputError(f"{where}:{number}: OFFSET needs three numbers, found {len(tokens) - 1}")
            if stack[-1] >= 0:
                joints[stack[-1]].offset = offset  # type: ignore[assignment]
            else:
                owner = next((i for i in reversed(stack) if i >= 0), None)
                if owner is not None:
                    joints[owner].end_site = offset  # type: ignore[assignment]
        elif key == "CHANNELS":
            joint = joints[stack[-1]] if stack and stack[-1] >= 0 else None
            if joint is None:
                raise InputError(f"{where}:{number}: CHANNELS outside a joint")
            _parse_channels(joint, tokens, where, number)
        elif key == "MOTION":
            if stack:
                raise InputError(f"{where}:{number}: MOTION before the hierarchy's braces close")
            if not joints:
                raise InputError(f"{where}:{number}: the hierarchy has no joints")
            return joints, number
    raise InputError(f"{where}: no MOTION section")


def _parse_channels(joint: _Joint, tokens: list[str], where: str, number: int) -> None:
    try:
        count = int(tokens[1])
    except (IndexError, ValueError):
        raise InputError(f"{where}:{number}: joint {joint.name!r}: CHANNELS needs a count") from None
    channels = tokens[2:]
    if len(channels) != count:
        raise InputError(
            f"{where}:{number}: joint {joint.name!r} lists {len(channels)} channels; CHANNELS says {count}"
        )
    for channel in channels:
        if channel not in POSITION_CHANNELS + ROTATION_CHANNELS:
            raise InputError(f"{where}:{number}: joint {joint.name!r}: unknown channel {channel!r}")
    rotations = [c for c in channels if c in ROTATION_CHANNELS]
    positions = [c for c in channels if c in POSITION_CHANNELS]
    if len(rotations) not in (0, 3) or len(positions) not in (0, 3) or len(set(channels)) != len(channels):
        raise InputError(
            f"{where}:{number}: joint {joint.name!r} lists channels {' '.join(channels)}; "
            "expected 0 or 3 distinct rotations and 0 or 3 distinct positions"
        )
    joint.channels = channels


def _parse_motion_header(lines: list[str], motion_line: int, where: str) -> tuple[int, float, int]:
    fields = {}
    number = motion_line
    for number in range(motion_line + 1, min(motion_line + 2, len(lines)) + 1):
        key, _, value = lines[number - 1].partition(":")
        fields[key.strip()] = (value.strip(), number)
    try:
        frames = int(fields["Frames"][0])
    except (KeyError, ValueError):
        raise InputError(f"{where}:{motion_line + 1}: expected 'Frames: <count>'") from None
    try:
        frame_time = float(fields["Frame Time"][0])
    except (KeyError, ValueError):
        raise InputError(f"{where}:{motion_line + 2}: expected 'Frame Time: <seconds>'") from None
    if frames < 0 or not frame_time > 0:
        raise InputError(f"{where}:{motion_line + 1}: Frames must be >= 0 and Frame Time > 0")
    return frames, frame_time, number


def _forward_kinematics(joints: list[_Joint], values: torch.Tensor) -> torch.Tensor:
    """(frames, channels) channel values to (frames, joints, 3) positions in file units and axes."""
    frames = values.shape[0]
    local_pos = torch.tensor([j.offset for j in joints], dtype=torch.float32).expand(frames, -1, -1).clone()
    angles = torch.zeros(frames, len(joints), 3)
    orders = []
    column = 0
    for index, joint in enumerate(joints):
        rotation_axes = []
        for channel in joint.channels:
            if channel in POSITION_CHANNELS:
                local_pos[:, index, POSITION_CHANNELS.index(channel)] = values[:, column]
            else:
                angles[:, index, len(rotation_axes)] = values[:, column]
                rotation_axes.append(channel[0])
            column += 1
        orders.append("".join(rotation_axes) or "XYZ")
    angles = torch.deg2rad(angles)
    local_rot = torch.empty(frames, len(joints), 3, 3)
    for order in set(orders):
        members = [i for i, o in enumerate(orders) if o == order]
        local_rot[:, members] = euler_to_matrix(angles[:, members], order)
    return forward_kinematics(local_rot, local_pos, [j.parent for j in joints])


def _rest_values(joints: list[_Joint]) -> torch.Tensor:
    """(1, channels) the rest pose as channel values: no rotation, each translation its OFFSET."""
    values = [
        j.offset[POSITION_CHANNELS.index(c)] if c in POSITION_CHANNELS else 0.0 for j in joints for c in j.channels
    ]
    return torch.tensor([values], dtype=torch.float32)


def _detect_units(world: np.ndarray, up: str, where: str) -> str:
    axis = 1 if up == "y" else 2
    extent = world[..., axis].max(axis=1) - world[..., axis].min(axis=1)
    height = float(np.median(extent)) if len(extent) else 0.0
    for units, (low, high) in HEIGHT_RANGES.items():
        if low <= height <= high:
            return units
    raise InputError(f"{where}: cannot tell the units from the skeleton's height ({height:g} file units); pass --units")


def write_bvh(animation: Animation, path: str | Path) -> None:
    """Write an animation as a BVH file in its rig's units, up axis and channel orders.

    Rotation channels are degrees, each unwrapped over time so that no value jumps by a full turn
    between frames; values have DIGITS decimals, so read_bvh reads the positions back to about a
    micrometre.

    Args:
        animation: joint rotations (and root, or per-joint, translations) on a rig.
        path: output file; written atomically.
    """
    with atomic_path(path) as tmp:
        tmp.write_text(bvh_text(animation))


def bvh_text(animation: Animation) -> str:
    """The whole BVH file write_bvh writes."""
    rig = animation.rig
    hierarchy = _hierarchy_lines(rig)
    values = channel_values(animation)
    rows = _format_rows(values)
    header = ["MOTION", f"Frames: {animation.frames}", f"Frame Time: {1.0 / animation.fps:.8f}"]
    return "\n".join(hierarchy + header + rows) + "\n"


def channel_values(animation: Animation, keep: np.ndarray | None = None, kept: np.ndarray | None = None) -> np.ndarray:
    """(frames, channels) float64 channel values of an animation in its rig's file conventions.

    Each joint's Euler angles are one of the two triples that give its rotation, each angle moved
    by whole turns, so that an animation tool interpolating between keys never spins a bone.

    Args:
        animation: the joint rotations.
        keep: (frames, channels) a file's own values, whose rotation channels the frames `kept`
            (frames,) bool hold unchanged and the frames after them continue from; None: none.
    """
    rig = animation.rig
    scale = UNIT_SCALE[rig.units]
    # Exactly orthonormal in float64 first: near gimbal lock the outer angles are read from small
    # entries, where a float32 matrix's rounding would misplace the end of a chain by a millimetre.
    local_rot, local_pos = nearest_rotation(animation.local_rot.double()), animation.local_pos.double()
    if rig.up == "y":
        convert = Y_UP_TO_Z_UP.double().T
        local_rot = convert @ local_rot @ convert.T
        local_pos = z_up_to_y_up(local_pos)
    local_pos = (local_pos / scale).numpy()
    values = np.zeros((animation.frames, sum(len(channels) for channels in rig.channels)))
    triples, columns = [], []  # each rotating joint's Euler angles (frames, 3), degrees, and their columns
    column = 0
    for joint in range(len(rig.skeleton)):
        order = rig.rotation_order(joint)
        if order is not None:
            triples.append(np.degrees(matrix_to_euler(local_rot[:, joint], order).numpy()))
        rotation_columns = []
        for channel in rig.channels[joint]:
            if channel in POSITION_CHANNELS:
                values[:, column] = local_pos[:, joint, POSITION_CHANNELS.index(channel)]
            else:
                rotation_columns.append(column)
            column += 1
        if order is not None:
            columns.append(rotation_columns)
    if triples:
        angles = np.stack(triples, axis=1)  # (frames, rotating joints, 3)
        anchor = None if keep is None else keep[:, np.array(columns)]
        values[:, np.array(columns)] = _continuous_euler(angles, anchor, kept)
    return values


def _continuous_euler(angles: np.ndarray, anchor: np.ndarray | None, anchored: np.ndarray | None) -> np.ndarray:
    """Per frame and joint, of the triples (a, b, c) and (a + 180, 180 - b, c + 180) that give one
    rotation, each angle moved by whole turns, the one nearest the previous frame's; frames
    `anchored` (frames,) take `anchor` (frames, joints, 3) instead (a file's own values). Degrees."""
    other = angles + np.array([180.0, 0.0, 180.0])
    other[..., 1] = 180.0 - angles[..., 1]
    chosen = np.empty_like(angles)
    for frame in range(len(angles)):
        if anchored is not None and anchored[frame]:
            chosen[frame] = anchor[frame]
            continue
        if frame == 0:
            chosen[frame] = angles[frame]
            continue
        previous = chosen[frame - 1]
        options = [option[frame] + 360.0 * np.round((previous - option[frame]) / 360.0) for option in (angles, other)]
        farther = np.abs(options[0] - previous).sum(-1) > np.abs(options[1] - previous).sum(-1)
        chosen[frame] = np.where(farther[..., None], options[1], options[0])
    return chosen


def _format_rows(values: np.ndarray) -> list[str]:
    text = np.char.mod(f"%.{DIGITS}f", np.round(values, DIGITS) + 0.0)  # + 0.0 turns -0.0 into 0.0
    return [" ".join(row) for row in text]


def _hierarchy_lines(rig: Rig) -> list[str]:
    scale = UNIT_SCALE[rig.units]

    def file_vector(vector: np.ndarray) -> str:
        value = torch.from_numpy(vector.astype(np.float64)) / scale
        value = z_up_to_y_up(value) if rig.up == "y" else value
        return " ".join(f"{v:.{DIGITS}f}" for v in (value.numpy().round(DIGITS) + 0.0))

    parents = rig.skeleton.parents
    lines = ["HIERARCHY"]
    open_joints: list[int] = []
    for joint, parent in enumerate(parents):
        while open_joints and open_joints[-1] != parent:
            _close(lines, open_joints, rig, file_vector)
        tabs = "\t" * len(open_joints)
        lines += [f"{tabs}{'ROOT' if parent < 0 else 'JOINT'} {rig.skeleton.joints[joint]}", f"{tabs}{{"]
        lines.append(f"{tabs}\tOFFSET {file_vector(rig.offsets[joint])}")
        if rig.channels[joint]:
            lines.append(f"{tabs}\tCHANNELS {len(rig.channels[joint])} {' '.join(rig.channels[joint])}")
        open_joints.append(joint)
    while open_joints:
        _close(lines, open_joints, rig, file_vector)
    return lines


def _close(lines: list[str], open_joints: list[int], rig: Rig, file_vector) -> None:
    """Close the innermost open joint, writing its End Site if it has no children."""
    joint = open_joints.pop()
    tabs = "\t" * len(open_joints)
    if joint not in rig.skeleton.parents:
        lines += [
            f"{tabs}\tEnd Site",
            f"{tabs}\t{{",
            f"{tabs}\t\tOFFSET {file_vector(rig.end_sites[joint])}",
            f"{tabs}\t}}",
        ]
    lines.append(f"{tabs}}}")


def file_rotations(bvh: BvhFile) -> torch.Tensor:
    """(frames, joints, 3, 3) the local rotations a BVH file's channels hold, Z-up (as Animation.local_rot)."""
    rig = bvh.rig
    values = torch.from_numpy(bvh.values).double()
    rotations = torch.eye(3, dtype=torch.float64).repeat(values.shape[0], len(rig.skeleton), 1, 1)
    column = 0
    for joint in range(len(rig.skeleton)):
        order = rig.rotation_order(joint)
        columns = [column + i for i, c in enumerate(rig.channels[joint]) if c not in POSITION_CHANNELS]
        if order is not None:
            rotations[:, joint] = euler_to_matrix(torch.deg2rad(values[:, columns]), order)
        column += len(rig.channels[joint])
    if rig.up == "y":
        rotations = Y_UP_TO_Z_UP.double() @ rotations @ Y_UP_TO_Z_UP.double().T
    return rotations.float()


def fill_bvh(bvh: BvhFile, positions: np.ndarray, filled: np.ndarray, path: str | Path) -> None:
    """Write a BVH file with the frames that have filled joints re-solved; every other frame keeps its text.

    The re-solved frames stay close to the file's own rotations (motion.joint_rotations.
    positions_to_rotations' reference): a joint with nothing filled at or below it keeps its own,
    the others the file's interpolated across the gap from the frames on either side, so the twist
    of each bone carries on through it. Each joint's Euler angles continue from the frame before.

    Args:
        bvh: the file read (read_bvh_file).
        positions: (frames, joints, 3) float32 metres, Z-up, in the file's joint order, with no gaps.
        filled: (frames, joints, 3) bool, the entries of `positions` that were filled in.
        path: output file; written atomically.
    """
    resolve = filled.any(axis=(1, 2))
    rows = list(bvh.rows)
    if resolve.any():
        # A joint keeps the file's own rotation in every frame where nothing at or below it was filled.
        parents = bvh.rig.skeleton.parents
        affected = filled.any(axis=2)  # (frames, joints)
        for joint in reversed(range(len(parents))):  # children come after their parents
            if parents[joint] >= 0:
                affected[:, parents[joint]] |= affected[:, joint]
        reference = _bridged(file_rotations(bvh), torch.from_numpy(~affected))
        animation = positions_to_rotations(positions, bvh.rig, bvh.clip.fps, translations=True, reference=reference)
        values = channel_values(animation, bvh.values.astype(np.float64), ~resolve)
        for frame, row in zip(np.flatnonzero(resolve), _format_rows(values[resolve]), strict=True):
            rows[frame] = row
    lines = _hierarchy_lines(bvh.rig) + ["MOTION", f"Frames: {len(rows)}", f"Frame Time: {1.0 / bvh.clip.fps:.8f}"]
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines + rows) + "\n")


def _bridged(rotations: torch.Tensor, kept: torch.Tensor) -> torch.Tensor:
    """(frames, joints, 3, 3) rotations where `kept` (frames, joints), and elsewhere a blend, along
    time, of the joint's nearest kept frames on either side (held at the ends; the rest pose if it
    has none), projected back onto rotations. Rotations that are not finite count as not kept."""
    frames = rotations.shape[0]
    kept = kept & torch.isfinite(rotations).all(dim=(-1, -2))
    bridged = torch.eye(3).repeat(frames, rotations.shape[1], 1, 1)
    index = torch.arange(frames)
    for joint in range(rotations.shape[1]):
        kept_index = index[kept[:, joint]]
        if len(kept_index) == 0:
            continue
        after = torch.searchsorted(kept_index, index).clamp(max=len(kept_index) - 1)
        before = (after - (kept_index[after] > index).long()).clamp(min=0)
        lo, hi = kept_index[before], kept_index[after]
        weight = torch.where(hi > lo, (index - lo) / (hi - lo).clamp(min=1), torch.zeros(frames)).float()
        weight = weight.clamp(0.0, 1.0)[:, None, None]
        own = rotations[:, joint]
        gaps = ~kept[:, joint]
        blend = own[lo[gaps]] * (1 - weight[gaps]) + own[hi[gaps]] * weight[gaps]
        bridged[:, joint] = own
        bridged[gaps, joint] = nearest_rotation(blend)
    return bridged
