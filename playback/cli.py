"""`motion generate` (a take toward flags with a trained DRMM, or the MDN baseline) and `motion render` (any clip to video)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from motion.atomic import write_bytes_atomic
from motion.checkpoint import load_checkpoint
from motion.cli import run_guarded
from motion.clip import Clip, resample
from motion.errors import InputError
from motion.formats import add_read_arguments, read_clips, read_options, write_joint_csv
from motion.formats.laforge_csv import write_laforge_csv
from motion.layout import SegmentLayout
from motion.models.drmm import DRMM
from motion.models.mdn import MDN
from motion.skeleton import Skeleton, preset_roles, resolve_joint_map
from playback.flags import parse_flags
from playback.goals import CLIPPING_MODES
from playback.loop import Playback, PlaybackConfig
from playback.metrics import motion_metrics, steering_metrics
from playback.render import RenderConfig, Renderer, write_stills, write_video


def add_video_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, type=Path, help="video file: .mp4 (H.264) or .gif")
    parser.add_argument("--size", default="640x360", help="WIDTHxHEIGHT in pixels (default 640x360)")
    parser.add_argument("--video-fps", type=float, default=30.0, help="video frame rate (default 30)")
    parser.add_argument("--stills", type=Path, help="also write every frame as PNG into this folder")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")


def render_config(args: argparse.Namespace) -> RenderConfig:
    try:
        width, height = (int(v) for v in args.size.lower().split("x"))
        if width < 16 or height < 16 or width % 2 or height % 2:
            raise ValueError
    except ValueError:
        raise InputError(f"--size {args.size!r}: expected WIDTHxHEIGHT, even numbers of at least 16") from None
    if args.video_fps <= 0:
        raise InputError("--video-fps must be > 0")
    if args.out.suffix.lower() not in (".mp4", ".gif"):
        raise InputError(f"{args.out}: the video must end in .mp4 or .gif")
    return RenderConfig(width=width, height=height, fps=args.video_fps)


def render_to(args: argparse.Namespace, skeleton: Skeleton, positions: np.ndarray, fps: float, flags=None) -> int:
    """Render a clip to args.out (and PNG stills); returns the frame count."""
    renderer = Renderer(skeleton, render_config(args))
    frames = renderer.frames(positions, fps, flags, progress=True)
    count = write_video(frames, args.out, renderer.config.fps)
    if args.stills:
        write_stills(renderer.frames(positions, fps, flags), args.stills)
    return count


# motion render ----------------------------------------------------------------------------


def build_render_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="motion render", description="Render a motion clip (BVH, LaForge CSV, joint CSV) to video."
    )
    parser.add_argument("input", type=Path, help="a motion file, or a folder or zip of them with --clip")
    parser.add_argument("--clip", help="name of the clip to render when the input holds several")
    add_read_arguments(parser)
    add_video_arguments(parser)
    return parser


def run_render(args: argparse.Namespace) -> int:
    config = render_config(args)
    clips = read_clips([args.input], read_options(args))
    if args.clip is not None:
        clips = [clip for clip in clips if clip.name == args.clip]
        if not clips:
            raise InputError(f"{args.input}: no clip named {args.clip!r}")
    if len(clips) != 1:
        names = ", ".join(clip.name for clip in clips[:5])
        raise InputError(f"{args.input}: holds {len(clips)} clips ({names}, ...); pick one with --clip")
    clip = clips[0]
    positions = clip.positions
    if np.isnan(positions).any():  # occluded values would make holes; draw the last seen position
        positions = fill_forward(positions)
    began = time.perf_counter()
    count = render_to(args, clip.skeleton, positions, clip.fps)
    seconds = time.perf_counter() - began
    print(f"wrote {args.out}: {count} frames at {config.fps:g} fps ({count / seconds:.1f} frames/s rendered)")
    return 0


def fill_forward(positions: np.ndarray) -> np.ndarray:
    """Replace NaN values by the last finite value of the same coordinate (then the next one)."""
    filled = positions.copy()
    for _ in range(2):
        for frame in range(1, len(filled)):
            gap = np.isnan(filled[frame])
            filled[frame][gap] = filled[frame - 1][gap]
        filled = filled[::-1]
    return np.nan_to_num(filled)


def render_main(argv: list[str] | None = None) -> int:
    return run_guarded(run_render, build_render_parser().parse_args(argv), "interrupted")


# motion generate --------------------------------------------------------------------------


def parse_ceiling(text: str | None) -> tuple[float, float] | None:
    """--max-head-height "1.4" (constant) or "1.7:1.2" (linear from start to end of the take)."""
    if text is None:
        return None
    try:
        values = [float(v) for v in text.split(":")]
        if len(values) not in (1, 2) or min(values) <= 0:
            raise ValueError
    except ValueError:
        raise InputError(f"--max-head-height {text!r}: expected metres, e.g. 1.4, or START:END, e.g. 1.7:1.2") from None
    return (values[0], values[-1])


def build_generate_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="motion generate",
        description="Generate a take with a trained DRMM: the character walks to flags; render it to video.",
    )
    parser.add_argument(
        "--model", required=True, type=Path, help="DRMM checkpoint (motion train drmm), or an MDN (motion train mdn)"
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the take (default 20)")
    parser.add_argument(
        "--facing", action=argparse.BooleanOptionalAction, default=True,
        help="condition on facing the flag (--no-facing leaves the forward vector unknown)",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--flags", help='scripted flags "x,y;x,y;..." in metres, cycled (default: random within +-4 m)')
    parser.add_argument("--max-head-height", help="head ceiling in metres, constant (1.4) or START:END (1.7:1.2)")
    parser.add_argument(
        "--ceiling-weight", type=float, default=PlaybackConfig.ceiling_weight,
        help="multiplier of the ceiling constraint against the context (default %(default)g)",
    )  # fmt: skip
    parser.add_argument("--start-from", type=Path, help="start from the first frames of this clip instead of a sample")
    parser.add_argument(
        "--clipping", choices=CLIPPING_MODES,
        help="goal clipping: direction (the DRMM's default; distance along the direction to the flag), box "
        "(App. C), none (an MDN's only mode)",
    )  # fmt: skip
    parser.add_argument(
        "--blend-seams", action=argparse.BooleanOptionalAction, default=PlaybackConfig.blend_seams,
        help="join decisions by inertialization (position, velocity and acceleration continue)",
    )  # fmt: skip
    parser.add_argument(
        "--lock-feet", action=argparse.BooleanOptionalAction, default=PlaybackConfig.lock_feet,
        help="plant toes that touch the floor, legs by two-bone IK",
    )  # fmt: skip
    parser.add_argument(
        "--fit-bones", action=argparse.BooleanOptionalAction, default=PlaybackConfig.fit_bones,
        help="restore the model's median bone lengths after sampling",
    )  # fmt: skip
    parser.add_argument("--positions", type=Path, help="write the generated positions as joint CSV")
    parser.add_argument("--laforge", type=Path, help="write the generated positions in the LaForge CSV layout")
    parser.add_argument("--log", type=Path, help="write per-decision logs and the take's metrics as JSON")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cuda")
    add_video_arguments(parser)
    parser.add_argument("--no-video", action="store_true", help="skip rendering (--out still names the take)")
    return parser


def load_playback(args: argparse.Namespace, config: PlaybackConfig, kind: str) -> tuple[Playback, Skeleton]:
    """The model of --model, a DRMM or an MDN (`kind`), in a Playback with `config`."""
    model, payload = (DRMM if kind == "drmm" else MDN).load(args.model, args.device)
    for key in ("layout", "skeleton", "fps"):
        if key not in payload:
            raise InputError(f"{args.model}: checkpoint has no {key!r}; train it with motion train {kind}")
    skeleton = Skeleton.from_dict(payload["skeleton"])
    layout = SegmentLayout.from_dict(payload["layout"])
    try:
        playback = Playback(model, layout, skeleton, preset_roles(skeleton.name), payload["fps"], config, args.seed)
    except ValueError as err:  # a setting this model cannot take
        raise InputError(f"{args.model}: {err}") from None
    return playback, skeleton


def start_frames(path: Path, skeleton: Skeleton, fps: float, frames: int) -> np.ndarray:
    clips = read_clips([path])
    if not clips:
        raise InputError(f"{path}: no clip")
    clip = clips[0]
    clip = clip.remap(resolve_joint_map(clip.skeleton, skeleton.name, None, clip.source))
    positions = resample(clip.positions, clip.fps, fps)
    if len(positions) < frames or np.isnan(positions[:frames]).any():
        raise InputError(f"{path}: needs {frames} complete frames at {fps:g} fps to start from")
    return positions[:frames]


def run_generate(args: argparse.Namespace) -> int:
    if args.seconds <= 0:
        raise InputError("--seconds must be > 0")
    if not args.no_video:
        render_config(args)  # bad video options fail before the take is generated
    kind = load_checkpoint(args.model).get("kind")
    if kind not in ("drmm", "mdn"):
        raise InputError(f"{args.model}: holds a {kind!r} model; playback needs a DRMM or an MDN")
    config = PlaybackConfig(
        facing=args.facing, clipping=args.clipping or ("none" if kind == "mdn" else PlaybackConfig.clipping),
        blend_seams=args.blend_seams, fit_bones=args.fit_bones,
        lock_feet=args.lock_feet,
        max_head_height=parse_ceiling(args.max_head_height), ceiling_weight=args.ceiling_weight,
    )  # fmt: skip
    flags = parse_flags(args.flags) if args.flags else None
    with torch.no_grad():
        playback, skeleton = load_playback(args, config, kind)
        start = None
        if args.start_from:
            start = start_frames(args.start_from, skeleton, playback.fps, playback.history_frames)
        take = playback.run(args.seconds, flags, start, progress=True)
    figures = steering_metrics(take.positions, take.flags, take.reached, take.fps, playback.roles)
    figures |= motion_metrics(take.positions, take.fps, skeleton)
    decisions = len(take.decisions)
    figures["decision_ms"] = take.seconds_generating / max(decisions, 1) * 1000
    figures["real_time_factor"] = len(take.positions) / take.fps / max(take.seconds_generating, 1e-9)

    clip = Clip(take.positions, skeleton, take.fps, str(args.model), args.out.stem)
    if args.positions:
        write_joint_csv(clip, str(args.positions))
    if args.laforge:
        write_laforge_csv([clip], str(args.laforge))
    if args.log:
        log = {"config": take.config, "seed": args.seed, "metrics": figures, "reached_frames": take.reached}
        write_bytes_atomic(args.log, json.dumps(log | {"decisions": take.decisions}, indent=1).encode())
    if not args.no_video:
        render_to(args, skeleton, take.positions, take.fps, take.flags)
    print(
        f"{len(take.positions) / take.fps:.1f} s, {len(take.reached)} flags reached "
        f"({figures['flags_per_minute']:.1f}/min), {figures['decision_ms']:.1f} ms per decision "
        f"({figures['real_time_factor']:.1f}x real time)"
    )
    print("  " + ", ".join(f"{key} {value:.3g}" for key, value in figures.items()))
    written = [
        p for p in (None if args.no_video else args.out, args.positions, args.laforge, args.log, args.stills) if p
    ]
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


def generate_main(argv: list[str] | None = None) -> int:
    return run_guarded(run_generate, build_generate_parser().parse_args(argv), "interrupted")
