"""LaForge / Unity CSV exports: `is_first;(x, y, z)(rx, ry, rz);...;` per frame, several takes per file."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from motion.atomic import atomic_path
from motion.clip import Clip
from motion.conventions import DEFAULT_FPS, UNIT_SCALE
from motion.errors import InputError
from motion.formats.numbers import parse_numbers
from motion.skeleton import load_preset

SKELETON = "laforge20"
NUMBERS_PER_JOINT = 6  # world position x, y, z (Unity axes), then Euler rotation in degrees (unused)
UNITY_AXES = [0, 2, 1]  # Unity's (x, y, z) as Z-up (x, y, z) and back: swapping y and z is its own inverse
_CELL = re.compile(r"^\s*\(([^()]*)\)\s*\(([^()]*)\)\s*$")
_SEPARATORS = bytes.maketrans(b"();,", b"    ")


def read_laforge_csv(text: str, where: str, stem: str, fps: float | None = None, units: str = "m") -> list[Clip]:
    """Read a LaForge/Unity CSV export into one clip per take.

    Each row: `is_first` (1 on a take's first frame), then one cell per laforge20 joint
    holding `(x, y, z)(rx, ry, rz)`: world position in Unity axes (left-handed, Y-up) and an
    unused rotation; a trailing empty column. Positions become Z-up right-handed by swapping
    y and z.

    Args:
        text: the whole file.
        where: file name for error messages and the clips' source.
        stem: base clip name; takes are named "<stem>_take<k>" (k from 1) when there are several.
        fps: frame rate; DEFAULT_FPS (30) when None.
        units: "m" (the export's), "cm" or "mm".
    Returns:
        Clips with positions (frames, 20, 3) float32, metres, Z-up.
    Raises:
        InputError: naming the row and joint at fault.
    """
    skeleton = load_preset(SKELETON)
    per_row = 1 + NUMBERS_PER_JOINT * len(skeleton)
    flat = text.encode("utf-8", "replace").translate(_SEPARATORS).decode("utf-8", "replace")
    try:
        values = parse_numbers(flat, where, 1, per_row)
    except InputError:
        raise _locate_error(text, where, skeleton.joints) from None
    if values.shape[0] == 0:
        raise InputError(f"{where}: no frames")
    is_first = values[:, 0]
    if not np.isin(is_first, (0.0, 1.0)).all():
        row = int(np.flatnonzero(~np.isin(is_first, (0.0, 1.0)))[0]) + 1
        raise InputError(f"{where}:{row}: column 1 (is_first) is {is_first[row - 1]:g}; expected 0 or 1")
    unity = values[:, 1:].reshape(-1, len(skeleton), NUMBERS_PER_JOINT)[..., :3]
    positions = unity[..., UNITY_AXES] * np.float32(UNIT_SCALE[units])

    starts = np.flatnonzero(is_first == 1).tolist()
    if not starts or starts[0] != 0:
        starts = [0] + starts
    bounds = list(zip(starts, starts[1:] + [len(values)]))
    clips = []
    for take, (begin, end) in enumerate(bounds, start=1):
        name = stem if len(bounds) == 1 else f"{stem}_take{take}"
        source = where if len(bounds) == 1 else f"{where}#take{take}"
        clips.append(Clip(np.ascontiguousarray(positions[begin:end]), skeleton, fps or DEFAULT_FPS, source, name))
    return clips


def _locate_error(text: str, where: str, joints: tuple[str, ...]) -> InputError:
    for row, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        cells = line.rstrip().rstrip(";").split(";")
        if cells[0].strip() not in ("0", "1"):
            return InputError(f"{where}:{row}: column 1 (is_first) is {cells[0].strip()!r}; expected 0 or 1")
        if len(cells) - 1 != len(joints):
            return InputError(f"{where}:{row}: {len(cells) - 1} joint cells; expected {len(joints)} ({SKELETON})")
        for column, (cell, joint) in enumerate(zip(cells[1:], joints), start=2):
            match = _CELL.match(cell)
            if match is None or not all(_is_number_triple(group) for group in match.groups()):
                return InputError(
                    f"{where}:{row}: column {column} (joint {joint!r}) is {cell.strip()[:60]!r}; "
                    "expected '(x, y, z)(rx, ry, rz)'"
                )
    return InputError(f"{where}: not a LaForge CSV export")


def _is_number_triple(group: str) -> bool:
    parts = group.split(",")
    try:
        [float(part) for part in parts]
    except ValueError:
        return False
    return len(parts) == 3


def write_laforge_csv(clips: list[Clip], path: str | Path) -> None:
    """Write clips as one LaForge/Unity CSV, takes back to back (rotations written as zeros).

    Args:
        clips: clips on the laforge20 skeleton, positions metres, Z-up.
        path: output file; written atomically.
    """
    rows = []
    for clip in clips:
        if clip.skeleton.joints != load_preset(SKELETON).joints:
            raise InputError(f"{clip.source}: LaForge CSV needs the {SKELETON} skeleton, not {clip.skeleton.name}")
        unity = clip.positions[..., UNITY_AXES]
        for frame in range(clip.frames):
            cells = ";".join(f"({x:.9g}, {y:.9g}, {z:.9g})(0, 0, 0)" for x, y, z in unity[frame].tolist())
            rows.append(f"{int(frame == 0)};{cells};")
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(rows) + "\n")


def fill_laforge_csv(text: str, positions: np.ndarray, filled: np.ndarray, path: str | Path, units: str = "m") -> None:
    """Write a LaForge CSV with some of its positions filled in (Unity axes); every other number keeps its text.

    Args:
        text: the whole file.
        positions: (frames, 20, 3) float32 metres, Z-up: every take's frames, in file order.
        filled: (frames, 20, 3) bool, the entries of `positions` to write.
        path: output file; written atomically.
        units: the file's units, as it was read with.
    """
    unity = positions[..., UNITY_AXES] / np.float32(UNIT_SCALE[units])
    lines = text.splitlines()
    frame = 0
    for number, line in enumerate(lines):
        if not line.strip():
            continue
        if filled[frame].any():
            cells = line.split(";")
            for joint in np.flatnonzero(filled[frame].any(-1)):
                cell = cells[1 + joint]
                match = _CELL.match(cell)
                numbers = match.group(1).split(",")
                for axis in np.flatnonzero(filled[frame, joint]):
                    numbers[axis] = (" " if axis else "") + f"{unity[frame, joint, axis]:.9g}"
                cells[1 + joint] = cell[: match.start(1)] + ",".join(numbers) + cell[match.end(1) :]
            lines[number] = ";".join(cells)
        frame += 1
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
