"""Playback takes measured the way the playback figures are: steering and motion metrics per take,
medians over seeds."""

from __future__ import annotations

import numpy as np

from motion.layout import SegmentLayout
from motion.skeleton import Skeleton, preset_roles
from playback.loop import Playback, PlaybackConfig, Take
from playback.metrics import motion_metrics, steering_metrics


def median_figures(rows: list[dict]) -> dict:
    """The median of each figure over rows (NaN ignored)."""
    return {key: float(np.nanmedian([row[key] for row in rows])) for key in rows[0]}


def takes(
    model, payload: dict, config: PlaybackConfig, seeds: list[int], seconds: float, flags: np.ndarray | None
) -> tuple[list[dict], Take]:
    """One take per seed with a Playback of `model` (a DRMM or an MDN and its checkpoint dict).

    Returns:
        each take's steering and motion figures (plus the median head height, metres, and the
        real-time factor of generation), and the last take.
    """
    skeleton = Skeleton.from_dict(payload["skeleton"])
    layout = SegmentLayout.from_dict(payload["layout"])
    roles = preset_roles(skeleton.name)
    rows = []
    for seed in seeds:
        playback = Playback(model, layout, skeleton, roles, payload["fps"], config, seed)
        take = playback.run(seconds, flags)
        figures = steering_metrics(take.positions, take.flags, take.reached, take.fps, roles)
        figures |= motion_metrics(take.positions, take.fps, skeleton)
        figures["head_height_m"] = float(np.median(take.positions[playback.history_frames :, roles["head"], 2]))
        figures["real_time_factor"] = len(take.positions) / take.fps / take.seconds_generating
        rows.append(figures)
    return rows, take
