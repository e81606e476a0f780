"""What every subcommand shares: help that shows defaults, the reading options, logging, and how bad
input and Ctrl-C are reported."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from motion.clip import Clip
from motion.errors import InputError
from motion.formats import FORMATS, ReadOptions, read_clips

T = TypeVar("T")

PACKAGES = ("motion", "preprocessing", "training", "playback", "evaluation", "cli")
"""The loggers whose INFO messages (what is trained, progress of long figures) a command prints."""


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Help that ends each option with its default, unless the text already says it (a default of
    None, "detect" say, is explained in the text) or there is none to show."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or action.default is None or action.required or action.default is argparse.SUPPRESS:
            return text
        return super()._get_help_string(action)


def parser(prog: str, description: str) -> argparse.ArgumentParser:
    """An argument parser whose --help shows every option's default."""
    return argparse.ArgumentParser(prog=prog, description=description, formatter_class=HelpFormatter)


def add_debug_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")


def add_read_arguments(parser: argparse.ArgumentParser) -> None:
    """--format, --fps, --up and --units of a command that reads motion files (motion.formats.ReadOptions)."""
    parser.add_argument("--format", choices=FORMATS, help="force the input format (default: detect)")
    parser.add_argument(
        "--fps",
        type=float,
        help="frame rate of inputs that carry none (default: LaForge 30; joint CSV: its time column)",
    )
    parser.add_argument("--up", choices=("y", "z"), help="up axis of the inputs (default: BVH y, joint CSV z)")
    parser.add_argument(
        "--units",
        choices=("m", "cm", "mm"),
        help="units of the inputs (default: BVH from the skeleton's height, CSV m)",
    )


def read_options(args: argparse.Namespace) -> ReadOptions:
    """The ReadOptions of arguments added by add_read_arguments."""
    return ReadOptions(args.format, args.fps, args.up, args.units)


def read_one_clip(path: Path, name: str | None, options: ReadOptions) -> Clip:
    """The one clip in a motion file, folder or zip, or the one named `name` (--clip) in it."""
    clips = read_clips([path], options)
    if name is not None:
        clips = [clip for clip in clips if clip.name == name]
        if not clips:
            raise InputError(f"{path}: no clip named {name!r}")
    if len(clips) != 1:
        names = ", ".join(clip.name for clip in clips[:5])
        raise InputError(f"{path}: holds {len(clips)} clips ({names}, ...); pick one with --clip")
    return clips[0]


def make(config: type[T], **fields) -> T:
    """config(**fields), a config dataclass whose fields are flags; an InputError that names a field
    ("segment_stride: ...") names the flag instead ("--segment-stride: ...")."""
    try:
        return config(**fields)
    except InputError as err:
        name, colon, rest = str(err).partition(": ")
        if colon and name in fields:
            raise InputError(f"--{name.replace('_', '-')}: {rest}") from None
        raise


def split_list(text: str | None) -> tuple[str, ...]:
    """A comma-separated option as a tuple, blanks dropped: "walk, run" -> ("walk", "run")."""
    return tuple(item.strip() for item in (text or "").split(",") if item.strip())


_HANDLER = "motion-cli"


class _Formatter(logging.Formatter):
    """Messages as they are; warnings and errors prefixed with their level."""

    def format(self, record: logging.LogRecord) -> str:
        message = super().format(record)
        return message if record.levelno < logging.WARNING else f"{record.levelname.lower()}: {message}"


class _StderrHandler(logging.StreamHandler):
    """Writes to sys.stderr as it is at each message: a stderr replaced when logging was configured
    (a test's capture, say) may be closed by the time the library logs again."""

    @property
    def stream(self):  # noqa: ANN201 - whatever sys.stderr is
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:  # StreamHandler.__init__ assigns it; always sys.stderr instead
        pass


def configure_logging(debug: bool) -> None:
    """INFO and above from the toolkit's own loggers, warnings from the rest, to stderr; DEBUG everywhere with --debug."""
    handler = _StderrHandler()
    handler.set_name(_HANDLER)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s") if debug else _Formatter())
    root = logging.getLogger()
    for previous in [h for h in root.handlers if h.get_name() == _HANDLER]:
        root.removeHandler(previous)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if debug else logging.WARNING)
    for package in PACKAGES:
        logging.getLogger(package).setLevel(logging.DEBUG if debug else logging.INFO)


def failures_exit(failures: Sequence[str]) -> int:
    """A batch job's exit code: 0, or 1 after saying on stderr that some inputs failed (each listed as it happened)."""
    if not failures:
        return 0
    print(f"{len(failures)} input(s) failed (listed above); fix them and run again to add them", file=sys.stderr)
    return 1


def run_guarded(run: Callable[[argparse.Namespace], int], args: argparse.Namespace, interrupted: str) -> int:
    """Run a subcommand the way every subcommand reports: bad input as one line and exit 2
    (a traceback only with args.debug), Ctrl-C as one line and exit 130.

    Args:
        run: the subcommand's work; returns its exit code.
        args: parsed arguments with a `debug` flag.
        interrupted: what to print on Ctrl-C when the interruption carries no message of its own.
    """
    configure_logging(args.debug)
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
