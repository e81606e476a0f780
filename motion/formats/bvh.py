"""BVH: hierarchy with OFFSETs and per-joint CHANNELS in any order, read to global positions by forward kinematics."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from motion.clip import Clip
from motion.conventions import UNIT_SCALE
from motion.errors import InputError
from motion.formats.numbers import parse_numbers
from motion.geometry import euler_to_matrix, forward_kinematics, y_up_to_z_up
from motion.skeleton import Skeleton, detect_preset

POSITION_CHANNELS = ("Xposition", "Yposition", "Zposition")
ROTATION_CHANNELS = ("Xrotation", "Yrotation", "Zrotation")

# Plausible actor heights, in file units, for telling metres from centimetres from millimetres.
HEIGHT_RANGES = {"m": (0.3, 3.0), "cm": (30.0, 300.0), "mm": (300.0, 3000.0)}


@dataclass
class _Joint:
    name: str
    parent: int
    offset: tuple[float, float, float]
    channels: list[str]


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
        units = _detect_units(world, up, where)
    scaled = torch.from_numpy(world * np.float32(UNIT_SCALE[units]))
    if up == "y":
        scaled = y_up_to_z_up(scaled)
    names = tuple(j.name for j in joints)
    skeleton = Skeleton(detect_preset(names) or "bvh", names, tuple(j.parent for j in joints))
    fps = 1.0 / frame_time
    if abs(fps - round(fps)) < 1e-3 * fps:
        fps = float(round(fps))  # writers print Frame Time with few digits: 0.0333333 means 30 fps
    return Clip(np.ascontiguousarray(scaled.numpy(), dtype=np.float32), skeleton, fps, where, name)


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


def _detect_units(world: np.ndarray, up: str, where: str) -> str:
    axis = 1 if up == "y" else 2
    extent = world[..., axis].max(axis=1) - world[..., axis].min(axis=1)
    height = float(np.median(extent)) if len(extent) else 0.0
    for units, (low, high) in HEIGHT_RANGES.items():
        if low <= height <= high:
            return units
    raise InputError(f"{where}: cannot tell the units from the skeleton's height ({height:g} file units); pass --units")
