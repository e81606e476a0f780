"""`motion inspect FILE`: frames, fps, duration, joints, height and labels of each clip in a file, folder or zip."""

from __future__ import annotations

import argparse
import sys

from motion.errors import InputError
from motion.formats import add_read_arguments, list_sources, read_options, read_source


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="motion inspect", description=__doc__.split(": ", 1)[1])
    parser.add_argument("paths", nargs="+", help="motion files, folders or zip archives")
    add_read_arguments(parser)
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    options = read_options(args)
    failed = 0
    try:
        sources = list_sources(args.paths)
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{'clip':<48} {'frames':>7} {'fps':>6} {'seconds':>8} {'joints':>14} {'height m':>8}  labels")
    for source in sources:
        try:
            clips = read_source(source, options)
        except InputError as err:
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


if __name__ == "__main__":
    sys.exit(main())
