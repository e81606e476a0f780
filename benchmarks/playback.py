"""Benchmark playback: steering and motion quality on the scripted course against real held-out
clips, decision latency with and without the ceiling, rendering speed, and a stills strip.

    python benchmarks/playback.py --model runs/drmm.pt [--seconds 60] [--seeds 0,1,2]

Prints medians over seeds and writes benchmarks/results/playback.json and docs/playback-stills.png.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import torch

# The repository first, so `playback` is the package, not this script.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import BANDAI_ZIP, LOCOMOTION, ROOT, machine

from evaluation.takes import held_out_clips, median_figures, takes
from motion.models import DRMM
from motion.skeleton import Skeleton
from playback.flags import COURSE, parse_flags
from playback.loop import Playback, PlaybackConfig
from playback.metrics import motion_metrics
from playback.render import RenderConfig, Renderer

CEILING = 1.25  # metres, about 11 cm under the head in free takes (~1.36 m)
SETTINGS = {
    "default": PlaybackConfig(),
    "default without foot locking": PlaybackConfig(lock_feet=False),
    "default without bone fitting": PlaybackConfig(fit_bones=False),
    "App. C (box clip; no seam blend, bone fitting or foot locking)": PlaybackConfig(
        clipping="box", blend_seams=False, fit_bones=False, lock_feet=False
    ),
    "no clipping": PlaybackConfig(clipping="none"),
}


def latency(model: DRMM, ceiling: float | None, decisions: int = 60) -> float:
    """Median wall time of one decision (both sampling passes), ms, after a warm-up."""
    playback = Playback(model, PlaybackConfig(max_head_height=None if ceiling is None else (ceiling, ceiling)))
    history = playback.bootstrap()
    flag = np.array([3.0, 0.0])
    times = []
    for _ in range(decisions + 3):
        began = time.perf_counter()
        poses, _ = playback.decide(history, flag, ceiling)
        times.append(time.perf_counter() - began)
        history = torch.cat([history, poses])[-playback.history_frames :]
    return float(np.median(times[3:]) * 1000)


def render_speed(skeleton: Skeleton, positions: np.ndarray, flags: np.ndarray, fps: float) -> float:
    renderer = Renderer(skeleton, RenderConfig())
    frames = renderer.frames(positions, fps, flags)
    next(frames)  # warm-up
    began = time.perf_counter()
    count = sum(1 for _ in frames)
    return count / (time.perf_counter() - began)


def stills(
    skeleton: Skeleton, positions: np.ndarray, flags: np.ndarray, fps: float, path: Path, count: int = 5
) -> None:
    """A strip of `count` frames across the take, side by side."""
    renderer = Renderer(skeleton, RenderConfig(width=320, height=240, distance=4.5))
    frames = list(renderer.frames(positions, fps, flags))
    picks = np.linspace(len(frames) * 0.1, len(frames) - 1, count).astype(int)
    path.parent.mkdir(parents=True, exist_ok=True)
    imageio.imwrite(path, np.concatenate([frames[i] for i in picks], axis=1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, type=Path, help="DRMM checkpoint")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each take")
    parser.add_argument("--seeds", default="0,1,2", help="seeds of the takes; figures are medians over them")
    parser.add_argument("--report", type=Path, default=ROOT / "benchmarks" / "results", help="JSON goes here")
    parser.add_argument("--stills", type=Path, default=ROOT / "docs" / "playback-stills.png")
    args = parser.parse_args(argv)
    torch.set_grad_enabled(False)
    seeds = [int(s) for s in args.seeds.split(",")]

    print(machine())
    model = DRMM.load(args.model)
    skeleton, fps = model.metadata.skeleton, model.metadata.fps
    print(f"model {args.model} ({model.metadata.iteration} iterations); {args.seconds:g} s takes, seeds {seeds}")
    report: dict = {"machine": machine(), "model": str(args.model), "seconds": args.seconds, "seeds": seeds}

    clips = held_out_clips([BANDAI_ZIP], LOCOMOTION, skeleton.name, fps)
    real = median_figures([motion_metrics(clip, fps, skeleton) for clip in clips])
    report["real"] = real | {"clips": len(clips)}
    print(f"real held-out locomotion ({len(clips)} test clips, median per clip): " + _format(real))

    course = parse_flags(COURSE)
    report["takes"] = {}
    for name, base in SETTINGS.items():
        for facing in (True, False):
            config = replace(base, facing=facing)
            rows, take = takes(model, config, seeds, args.seconds, course)
            label = f"{name}, {'facing' if facing else 'facing unspecified'}"
            report["takes"][label] = median_figures(rows)
            print(f"{label}: " + _format(report["takes"][label]))
            if name == "default" and facing:
                showcase = take
    rows, _ = takes(model, PlaybackConfig(), seeds, args.seconds, None)
    report["takes"]["default, facing, random flags"] = median_figures(rows)
    print("default, facing, random flags: " + _format(report["takes"]["default, facing, random flags"]))
    for ceiling in (None, CEILING):
        config = PlaybackConfig(max_head_height=None if ceiling is None else (ceiling, ceiling))
        rows, _ = takes(model, config, seeds, args.seconds, course)
        label = f"default, facing, {'no ceiling' if ceiling is None else f'{ceiling} m ceiling'}: head height"
        report["takes"][label] = median_figures(rows)["head_height_m"]
        print(f"{label} {report['takes'][label]:.2f} m (median over frames)")

    report["decision_ms"] = {"free": latency(model, None), "ceiling 1.3 m": latency(model, 1.3)}
    print(f"decision latency (median, ms): {report['decision_ms']}; 5 frames = 167 ms of animation")
    report["render_fps_640x360"] = render_speed(skeleton, showcase.positions[:300], showcase.flags[:300], showcase.fps)
    print(f"rendering at 640x360: {report['render_fps_640x360']:.1f} frames/s")
    stills(skeleton, showcase.positions, showcase.flags, showcase.fps, args.stills)
    print(f"wrote {args.stills}")

    args.report.mkdir(parents=True, exist_ok=True)
    (args.report / "playback.json").write_text(json.dumps(report, indent=1))
    print(f"wrote {args.report / 'playback.json'}")
    return 0


def _format(figures: dict) -> str:
    return ", ".join(f"{key} {value:.3g}" for key, value in figures.items())


if __name__ == "__main__":
    raise SystemExit(main())
