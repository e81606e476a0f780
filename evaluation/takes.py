"""Playback takes measured the way the playback figures are (steering and motion metrics per take,
medians over seeds), and the real held-out clips they are compared with."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from motion.models import DRMM, MDN
from motion.splits import split_clips
from playback.loop import Playback, PlaybackConfig, Take


def median_figures(rows: list[dict]) -> dict:
    """The median of each figure over rows (NaN ignored; NaN where every row is NaN)."""
    medians = {}
    for key in rows[0]:
        values = np.array([row[key] for row in rows], dtype=np.float64)
        medians[key] = float(np.nanmedian(values)) if np.isfinite(values).any() else float("nan")
    return medians


def takes(
    model: DRMM | MDN, config: PlaybackConfig, seeds: list[int], seconds: float, flags: np.ndarray | None
) -> tuple[list[dict], Take]:
    """One take per seed with a Playback of `model` (a DRMM or an MDN, as loaded).

    Returns:
        each take's Playback.figures(), and the last take.
    """
    rows = []
    for seed in seeds:
        playback = Playback(model, config, seed)
        take = playback.run(seconds, flags)
        rows.append(playback.figures(take))
    return rows, take


def held_out_clips(
    paths: Iterable[str | Path], contents: Iterable[str], skeleton: str, fps: float, split: str = "test"
) -> list[np.ndarray]:
    """Real clips of one split, as preprocessing splits them, on `skeleton` at `fps`: the reference.

    Args:
        paths: mocap files, folders or zip archives (as `motion preprocess` takes them).
        contents: content labels to keep (e.g. the locomotion ones); empty keeps all.
    Returns:
        one (frames, joints, 3) array per clip.
    """
    return [clip.positions for clip in split_clips(paths, contents, skeleton, fps, (split,))]
