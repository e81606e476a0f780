"""Joint-position CSV (AMASS exports and general use): a `<joint>_x,<joint>_y,<joint>_z` header, optional `time`."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from motion.atomic import atomic_path
from motion.clip import Clip
from motion.conventions import UNIT_SCALE
from motion.errors import InputError
from motion.geometry import y_up_to_z_up, z_up_to_y_up
from motion.skeleton import Skeleton, detect_preset, load_preset

AXES = ("x", "y", "z")
TIME_COLUMN = "time"


def read_joint_csv(text: str, where: str, name: str, fps: float | None = None, up: str = "z", units: str = "m") -> Clip:
    """Read a joint-position CSV into a clip.

    Empty cells and "nan" read as NaN (occluded values); everything else must be a number.
    Joints whose names match a preset (smpl22 for AMASS, ...) take that preset's order and parents.

    Args:
        text: the whole file.
        where: file name for error messages and the clip's source.
        name: clip name.
        fps: frame rate; required when there is no `time` column, which otherwise sets it.
        up: the file's up axis, "z" or "y" (right-handed Y-up, converted to Z-up).
        units: "m", "cm" or "mm".
    Returns:
        Clip with positions (frames, joints, 3) float32, metres, Z-up.
    Raises:
        InputError: naming the row and column at fault.
    """
    header = text.partition("\n")[0].strip().split(",")
    columns, joints = _joint_columns(header, where)
    try:
        table = pd.read_csv(io.StringIO(text), dtype=np.float64, skipinitialspace=True)
    except ValueError:
        raise _locate_error(text, where) from None
    except pd.errors.ParserError as err:
        raise InputError(f"{where}: {err}") from None
    values = table.to_numpy()
    positions = values[:, columns].reshape(len(table), len(joints), 3).astype(np.float32)

    if TIME_COLUMN in header:
        time = values[:, header.index(TIME_COLUMN)]
        steps = np.diff(time)
        if len(steps) == 0 or not (np.median(steps) > 0):
            if fps is None:
                raise InputError(f"{where}: column 'time' does not give a frame rate; pass --fps")
        elif fps is None:
            fps = round(float(1.0 / np.median(steps)), 6)  # undo the rounding of written times
    if fps is None:
        raise InputError(f"{where}: no 'time' column; pass --fps")

    positions = positions * np.float32(UNIT_SCALE[units])
    if up == "y":
        positions = y_up_to_z_up(torch.from_numpy(positions)).numpy()
    skeleton = _skeleton(joints)
    if skeleton.name != "csv":
        order = [joints.index(joint) for joint in skeleton.joints]
        positions = positions[:, order]
    return Clip(np.ascontiguousarray(positions), skeleton, fps, where, name)


def _joint_columns(header: list[str], where: str) -> tuple[list[int], list[str]]:
    joints: list[str] = []
    slots: dict[str, dict[str, int]] = {}
    for column, title in enumerate(header):
        title = title.strip()
        if title == TIME_COLUMN:
            continue
        joint, _, axis = title.rpartition("_")
        if not joint or axis not in AXES:
            raise InputError(f"{where}:1: column {column + 1} is {title!r}; expected '<joint>_x|y|z' or 'time'")
        if joint not in slots:
            joints.append(joint)
            slots[joint] = {}
        if axis in slots[joint]:
            raise InputError(f"{where}:1: column {title!r} appears twice")
        slots[joint][axis] = column
    for joint in joints:
        missing = [axis for axis in AXES if axis not in slots[joint]]
        if missing:
            raise InputError(f"{where}:1: joint {joint!r} has no column {joint}_{missing[0]}")
    if not joints:
        raise InputError(f"{where}:1: no joint columns in the header")
    return [slots[joint][axis] for joint in joints for axis in AXES], joints


def _locate_error(text: str, where: str) -> InputError:
    lines = text.splitlines()
    header = [title.strip() for title in lines[0].split(",")]
    for row, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        cells = line.split(",")
        if len(cells) != len(header):
            return InputError(f"{where}:{row}: {len(cells)} cells; the header has {len(header)}")
        for title, cell in zip(header, cells):
            cell = cell.strip()
            if cell and cell.lower() != "nan":
                try:
                    float(cell)
                except ValueError:
                    return InputError(f"{where}:{row}: column {title!r} is {cell[:40]!r}, not a number")
    return InputError(f"{where}: not a joint-position CSV")


def _skeleton(joints: list[str]) -> Skeleton:
    preset = detect_preset(joints)
    if preset is not None:
        return load_preset(preset)
    return Skeleton("csv", tuple(joints), tuple([-1] * len(joints)))


def write_joint_csv(clip: Clip, path: str | Path) -> None:
    """Write a clip as joint-position CSV: `time` in seconds, then `<joint>_x,_y,_z` in metres, Z-up.

    Values are written with 9 significant digits, enough for float32 to read back bit for bit;
    NaN (occluded) values are written as empty cells.

    Args:
        clip: the clip.
        path: output file; written atomically.
    """
    header = [TIME_COLUMN] + [f"{joint}_{axis}" for joint in clip.skeleton.joints for axis in AXES]
    time = np.arange(clip.frames, dtype=np.float64) / clip.fps
    frame = pd.DataFrame(clip.positions.reshape(clip.frames, -1).astype(np.float64), columns=header[1:])
    frame.insert(0, TIME_COLUMN, time)
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.9g", na_rep="", lineterminator="\n")


def fill_joint_csv(
    text: str, clip: Clip, positions: np.ndarray, filled: np.ndarray, path: str | Path, up: str = "z", units: str = "m"
) -> None:
    """Write a joint CSV with some of its cells filled in; every other cell keeps its text.

    Args:
        text: the whole file `clip` was read from.
        clip: the clip read from it (its skeleton names the columns).
        positions: (frames, joints, 3) float32 metres, Z-up, on clip.skeleton.
        filled: (frames, joints, 3) bool, the entries of `positions` to write (typically the empty cells).
        path: output file; written atomically.
        up, units: the file's own up axis and units, as it was read with.
    """
    lines = text.splitlines()
    header = [title.strip() for title in lines[0].split(",")]
    column = {title: i for i, title in enumerate(header)}
    values = torch.from_numpy(np.ascontiguousarray(positions, dtype=np.float32))
    values = (z_up_to_y_up(values) if up == "y" else values).numpy() / np.float32(UNIT_SCALE[units])
    frame = 0
    for number in range(1, len(lines)):
        if not lines[number].strip():
            continue
        cells = lines[number].split(",")
        for joint, axis in zip(*np.nonzero(filled[frame]), strict=True):
            cells[column[f"{clip.skeleton.joints[joint]}_{AXES[axis]}"]] = f"{values[frame, joint, axis]:.9g}"
        lines[number] = ",".join(cells)
        frame += 1
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
