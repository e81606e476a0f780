"""The `motion` console script: dispatches `motion SUBCOMMAND ...` to that subcommand's main(argv).

Subcommands are named as "module:function" and imported only when run, so `motion` stays
importable without the other packages and `motion --help` starts fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable

from motion.errors import InputError

SUBCOMMANDS = {
    "demo": ("evaluation.demo:main", "generate a take and impute a clip with gaps with the shipped models"),
    "preprocess": ("preprocessing.batch:main", "cut mocap files into Parquet segments and windows"),
    "inspect": ("motion.inspect_clips:main", "print frames, fps, duration, joints, height and labels of clips"),
    "train": ("training.cli:main", "train a model (drmm, hgvae, mdn) on a preprocessed dataset"),
    "impute": ("motion.impute:main", "fill occluded joint positions in a clip with a trained HG-VAE"),
    "generate": ("playback.cli:generate_main", "generate a take toward flags with a trained DRMM and render it"),
    "render": ("playback.cli:render_main", "render any motion clip to video (mp4 or GIF)"),
    "evaluate": ("evaluation.cli:main", "measure trained models against the papers: JSON, Markdown, PNG plots"),
}


def run_guarded(run: Callable[[argparse.Namespace], int], args: argparse.Namespace, interrupted: str) -> int:
    """Run a subcommand the way every subcommand reports: bad input as one line and exit 2
    (a traceback only with args.debug), Ctrl-C as one line and exit 130.

    Args:
        run: the subcommand's work; returns its exit code.
        args: parsed arguments with a `debug` flag.
        interrupted: what to print on Ctrl-C when the interruption carries no message of its own.
    """
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        return run(args)
    except InputError as err:
        if args.debug:
            raise
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as stop:
        print(str(stop) or interrupted, file=sys.stderr)
        return 130


def usage() -> str:
    rows = "\n".join(f"  {name:<12} {about}" for name, (_, about) in SUBCOMMANDS.items())
    return f"usage: motion SUBCOMMAND [options]\n\nsubcommands:\n{rows}\n\n'motion SUBCOMMAND --help' for its options."


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else 2
    if argv[0] == "--version":
        from motion import __version__

        print(f"motion {__version__}")
        return 0
    if argv[0] not in SUBCOMMANDS:
        print(f"motion: unknown subcommand {argv[0]!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module, _, function = SUBCOMMANDS[argv[0]][0].partition(":")
    return getattr(importlib.import_module(module), function)(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
