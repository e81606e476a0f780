"""What the benchmarks share: the machine line they print, the shared data they run on, and\nplayback takes with their figures."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BANDAI_ZIP = ROOT.parent / "shared" / "data" / "bandai-namco-motion-2.zip"
LOCOMOTION = "walk,walk-turn-left,walk-turn-right,run"  # the four locomotion contents
COURSE = "3,0;3,3;0,3;0,0"  # the scripted course of flags of the playback figures


def machine() -> str:
    """CPU, cores, memory, GPU, Python and torch versions, on one line."""
    cpu = platform.processor() or "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        cpu = next(
            (
                line.split(":", 1)[1].strip()
                for line in cpuinfo.read_text().splitlines()
                if line.startswith("model name")
            ),
            cpu,
        )
    memory = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        kib = int(meminfo.read_text().split()[1])
        memory = f", {kib / 2**20:.0f} GiB RAM"
    import torch

    gpu = f", GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ", no GPU"
    return f"{cpu}, {os.cpu_count()} cores{memory}{gpu}; Python {platform.python_version()}, torch {torch.__version__}"


def median_figures(rows: list[dict]) -> dict:
    """The median of each figure over rows (NaN ignored)."""
    return {key: float(np.nanmedian([row[key] for row in rows])) for key in rows[0]}


def takes(model, payload, config, seeds, seconds, flags):
    """One take per seed with a Playback of `model`; each take's steering and motion figures, and the last take."""
    # Imported here: run from benchmarks/, `playback` would otherwise name benchmarks/playback.py.
    from motion.layout import SegmentLayout
    from motion.skeleton import Skeleton, preset_roles
    from playback.loop import Playback
    from playback.metrics import motion_metrics, steering_metrics

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
