"""`motion render`: any motion clip (BVH, LaForge CSV, joint CSV) to video (playback.render)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from cli.common import add_debug_argument, add_read_arguments, parser, read_one_clip, read_options, run_guarded
from motion.errors import InputError
from motion.skeleton import Skeleton
from playback.render import RenderConfig, Renderer, fill_forward, write_stills, write_video

DEFAULTS = RenderConfig()


def add_video_arguments(command: argparse.ArgumentParser) -> None:
    """--out, --size, --video-fps, --stills, --debug: what every command that writes a video takes."""
    command.add_argument("--out", required=True, type=Path, help="video file: .mp4 (H.264) or .gif")
    command.add_argument("--size", default=f"{DEFAULTS.width}x{DEFAULTS.height}", help="WIDTHxHEIGHT in pixels")
    command.add_argument("--video-fps", type=float, default=DEFAULTS.fps, help="video frame rate")
    command.add_argument("--stills", type=Path, help="also write every frame as PNG into this folder (default: no)")
    add_debug_argument(command)


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
    count = write_video(renderer.frames(positions, fps, flags, progress=True), args.out, renderer.config.fps)
    if args.stills:
        write_stills(renderer.frames(positions, fps, flags), args.stills)
    return count


def build_parser() -> argparse.ArgumentParser:
    command = parser("motion render", "Render a motion clip (BVH, LaForge CSV, joint CSV) to video.")
    command.add_argument("input", type=Path, help="a motion file, or a folder or zip of them with --clip")
    command.add_argument("--clip", help="name of the clip to render when the input holds several (default: the one)")
    add_read_arguments(command)
    add_video_arguments(command)
    return command


def run(args: argparse.Namespace) -> int:
    config = render_config(args)
    clip = read_one_clip(args.input, args.clip, read_options(args))
    positions = fill_forward(clip.positions) if np.isnan(clip.positions).any() else clip.positions
    began = time.perf_counter()
    count = render_to(args, clip.skeleton, positions, clip.fps)
    seconds = time.perf_counter() - began
    print(f"wrote {args.out}: {count} frames at {config.fps:g} fps ({count / seconds:.1f} frames/s rendered)")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_guarded(run, build_parser().parse_args(argv), "interrupted")


if __name__ == "__main__":
    sys.exit(main())
