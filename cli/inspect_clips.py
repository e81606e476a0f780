"""`motion inspect FILE`: frames, fps, duration, joints, height and labels of each clip in a file, folder or zip."""

from __future__ import annotations

import argparse
import sys

from cli.common import add_debug_argument, add_read_arguments, parser, read_options, run_guarded
from motion.errors import InputError
from motion.formats import list_sources, read_source


def build_parser() -> argparse.ArgumentParser:
    command = parser("motion inspect", __doc__.split(": ", 1)[1])
    command.add_argument("paths", nargs="+", help="motion files, folders or zip archives")
    add_read_arguments(command)
    add_debug_argument(command)
    return command


def run(args: argparse.Namespace) -> int:
    options = read_options(args)
    sources = list_sources(args.paths)
    failed = 0
    print(f"{'clip':<48} {'frames':>7} {'fps':>6} {'seconds':>8} {'joints':>14} {'height m':>8}  labels")
    for source in sources:
        try:
            clips = read_source(source, options)
        except InputError as err:  # one bad file does not hide the others
            if args.debug:
                raise
            print(f"error: {err}", file=sys.stderr)
            failed += 1
            continue
        for clip in clips:
            labels = ", ".join(f"{k}={v}" for k, v in clip.labels.items()) or "-"
            skeleton = f"{len(clip.skeleton)} ({clip.skeleton.name})"
            print(
                f"{clip.name:<48} {clip.frames:>7} {clip.fps:>6g} {clip.duration:>8.2f} "
                f"{skeleton:>14} {clip.height:>8.2f}  {labels}"
            )
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    return run_guarded(run, build_parser().parse_args(argv), "interrupted")


if __name__ == "__main__":
    sys.exit(main())
