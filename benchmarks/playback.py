"""Benchmark playback: steering and motion quality on the scripted course against real held-out
clips, the DRMM beside the MDN and motion matching on three courses (with the worst 3 s of each take
and a naturalness figure), decision latency with and without the ceiling, rendering speed, and a
stills strip.

    python benchmarks/playback.py --model runs/drmm.pt [--matching mm.pt] [--mdn mdn.pt] [--seconds 60] [--seeds 0,1,2]

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

from evaluation.naturalness import Naturalness
from evaluation.takes import held_out_clips, median_figures, takes
from motion.models import DRMM, load_model
from motion.skeleton import Skeleton, preset_roles
from playback.flags import COURSE, SHARP_COURSE, parse_flags
from playback.loop import Playback, PlaybackConfig
from playback.metrics import motion_metrics, worst_window
from playback.render import RenderConfig, Renderer

CEILING = 1.25  # metres, about 11 cm under the head in free takes (~1.36 m)
COURSES = {"square": COURSE, "sharp turns": SHARP_COURSE, "random flags": None}
APP_C = PlaybackConfig(clipping="box", blend_seams=False, fit_bones=False, lock_feet=False)
SETTINGS = {
    "default": PlaybackConfig(),
    "default without foot locking": PlaybackConfig(lock_feet=False),
    "default without bone fitting": PlaybackConfig(fit_bones=False),
    "App. C (box clip; no seam blend, bone fitting or foot locking)": APP_C,
    "no clipping": PlaybackConfig(clipping="none"),
}


def side_by_side(
    methods: dict, seeds: list[int], seconds: float, naturalness: Naturalness
) -> dict[str, dict[str, float]]:
    """Every method on every course (facing; the square also facing unspecified): the take figures,
    the worst 3 s window of each take (prefixed "worst_3s_"), the naturalness distance (median over
    one-second windows) and the database's or parameters' memory, medians over seeds."""
    rows = {}
    for method, (model, config) in methods.items():
        memory = sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()]) / 2**20
        for course, text in COURSES.items():
            for facing in (True, False) if course == "square" else (True,):
                figures = []
                for seed in seeds:
                    playback = Playback(model, replace(config, facing=facing), seed)
                    take = playback.run(seconds, None if text is None else parse_flags(text))
                    row = playback.figures(take)
                    worst = worst_window(
                        take.positions, take.fps, playback.skeleton, skip_frames=playback.history_frames
                    )
                    row |= {f"worst_3s_{key}": value for key, value in worst.items()}
                    row["naturalness"] = float(
                        np.median(naturalness.distances(take.positions[playback.history_frames :]))
                    )
                    figures.append(row)
                label = f"{method}, {course}, {'facing' if facing else 'facing unspecified'}"
                rows[label] = median_figures(figures) | {"memory_mib": memory}
                print(f"{label}: " + _format(rows[label]))
    return rows


def latency(model: DRMM, ceiling: float | None, decisions: int = 60) -> float:
    """Median wall time of one decision (both sampling passes), ms, after a warm-up."""
    playback = Playback(model, PlaybackConfig(max_head_height=None if ceiling is None else (ceiling, ceiling)))
    history = playback.real_start()
    flag = np.array([3.0, 0.0])
    times = []
    for _ in range(decisions + 3):
        began = time.perf_counter()
        poses, _ = playback.decide(history, flag, ceiling)
        times.append(time.perf_counter() - began)
        history = torch.cat([history, poses])[-playback.history_frames :]
    return float(np.median(times[3:]) * 1000)


def starts(model: DRMM) -> dict[str, dict[str, list[float]]]:
    """3 s takes (seeds 1-4, the square) from the default real start and from a model sample
    (`Playback.bootstrap`, the start before): each take's jerk (m/s^3) and bone-length CV (%)."""
    figures = {}
    for name in ("real start", "model sample"):
        jerk, cv = [], []
        for seed in (1, 2, 3, 4):
            playback = Playback(model, PlaybackConfig(), seed)
            start = None if name == "real start" else playback.bootstrap().numpy()
            take = playback.run(3.0, parse_flags(COURSE), start)
            row = motion_metrics(take.positions, take.fps, playback.skeleton)
            jerk.append(row["jerk_m_s3"])
            cv.append(row["bone_length_cv_percent"])
        figures[name] = {"jerk_m_s3": jerk, "bone_length_cv_percent": cv}
        print(f"3 s takes from a {name}: jerk {_format_list(jerk)} m/s^3, bone-length CV {_format_list(cv)} %")
    return figures


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
    parser.add_argument("--matching", type=Path, help="motion-matching database (motion train matching) beside it")
    parser.add_argument("--mdn", type=Path, help="MDN checkpoint (motion train mdn) beside it")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each take")
    parser.add_argument("--seeds", default="0,1,2", help="seeds of the takes; figures are medians over them")
    parser.add_argument("--report", type=Path, default=ROOT / "benchmarks" / "results", help="JSON goes here")
    parser.add_argument("--stills", type=Path, default=ROOT / "docs" / "playback-stills.png")
    parser.add_argument(
        "--speed-only", action="store_true", help="only the 3 s starts, decision latency and rendering (no JSON)"
    )
    args = parser.parse_args(argv)
    torch.set_grad_enabled(False)
    seeds = [int(s) for s in args.seeds.split(",")]

    print(machine())
    model = DRMM.load(args.model)
    skeleton, fps = model.metadata.skeleton, model.metadata.fps
    print(f"model {args.model} ({model.metadata.iteration} iterations); {args.seconds:g} s takes, seeds {seeds}")
    report: dict = {"machine": machine(), "model": str(args.model), "seconds": args.seconds, "seeds": seeds}
    report["start"] = starts(model)
    report["decision_ms"] = {"free": latency(model, None), "ceiling 1.3 m": latency(model, 1.3)}
    print(f"decision latency (median, ms): {report['decision_ms']}; 5 frames = 167 ms of animation")
    playback = Playback(model, PlaybackConfig())
    take = playback.run(10.0, parse_flags(COURSE))
    report["render_fps_640x360"] = [render_speed(skeleton, take.positions, take.flags, take.fps) for _ in range(3)]
    print(f"rendering at 640x360 (3 runs of 300 frames): {_format_list(report['render_fps_640x360'])} frames/s")
    if args.speed_only:
        return 0

    clips = held_out_clips([BANDAI_ZIP], LOCOMOTION, skeleton.name, fps)
    real = median_figures([motion_metrics(clip, fps, skeleton) for clip in clips])
    long_enough = [clip for clip in clips if len(clip) >= 3 * fps]
    worst = median_figures([worst_window(clip, fps, skeleton) for clip in long_enough])
    real |= {f"worst_3s_{key}": value for key, value in worst.items()}
    report["real"] = real | {"clips": len(clips)}
    print(f"real held-out locomotion ({len(clips)} test clips, median per clip): " + _format(real))

    naturalness = Naturalness(clips, fps, preset_roles(skeleton.name))
    report["real"]["naturalness"] = naturalness.real_figure(clips)
    print(f"naturalness of the real held-out clips (to the other clips' windows): {report['real']['naturalness']:.3f}")
    methods = {"DRMM default": (model, PlaybackConfig()), "DRMM App. C": (model, APP_C)}
    if args.mdn:
        methods["MDN"] = (load_model(args.mdn, kinds=("mdn",)), PlaybackConfig())
    if args.matching:
        methods["motion matching"] = (load_model(args.matching, kinds=("matching",)), PlaybackConfig())
    report["side_by_side"] = side_by_side(methods, seeds, args.seconds, naturalness)

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

    stills(skeleton, showcase.positions, showcase.flags, showcase.fps, args.stills)
    print(f"wrote {args.stills}")

    args.report.mkdir(parents=True, exist_ok=True)
    (args.report / "playback.json").write_text(json.dumps(report, indent=1))
    print(f"wrote {args.report / 'playback.json'}")
    return 0


def _format_list(values: list[float]) -> str:
    return ", ".join(f"{value:.3g}" for value in values)


def _format(figures: dict) -> str:
    return ", ".join(f"{key} {value:.3g}" for key, value in figures.items())


if __name__ == "__main__":
    raise SystemExit(main())
