"""Occlusion masks: which entries of a clip are missing, given beside it as .npy or as a CSV of 0/1 per joint."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from motion.errors import InputError
from motion.skeleton import Skeleton


def read_mask(path: str | Path, frames: int, skeleton: Skeleton) -> np.ndarray:
    """An explicit occlusion mask, (frames, joints, 3) bool, True where occluded.

    Formats: `.npy` holding a (frames, joints) or (frames, joints, 3) array of bools or 0/1 in
    the file's joint order; or a CSV with a header of joint names (any subset) and one row of
    0/1 per frame.

    Args:
        path: the mask file.
        frames, skeleton: the clip's frame count and skeleton (as read from its file).
    Raises:
        InputError: naming the file (and row) whose shape or values are wrong.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such mask file")
    if path.suffix.lower() == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as err:
            raise InputError(f"{path}: not a readable .npy array ({err})") from None
        if array.ndim == 2:
            array = np.repeat(array[:, :, None], 3, axis=2)
        if array.shape != (frames, len(skeleton), 3):
            raise InputError(f"{path}: mask of shape {array.shape}; the clip needs ({frames}, {len(skeleton)}[, 3])")
        if not np.isin(array, (0, 1)).all():
            raise InputError(f"{path}: mask values must be 0/1 or booleans")
        return array.astype(bool)
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    if not lines:
        raise InputError(f"{path}: empty mask file")
    header = [name.strip() for name in lines[0].split(",")]
    joints = [skeleton.index(name) for name in header]
    if len(lines) - 1 != frames:
        raise InputError(f"{path}: {len(lines) - 1} mask rows; the clip has {frames} frames")
    mask = np.zeros((frames, len(skeleton), 3), dtype=bool)
    for row, line in enumerate(lines[1:], start=2):
        cells = [cell.strip() for cell in line.split(",")]
        if len(cells) != len(header) or any(cell not in ("0", "1") for cell in cells):
            raise InputError(f"{path}:{row}: expected {len(header)} cells of 0 or 1")
        mask[row - 2, joints] = np.array(cells) == "1"
    return mask
