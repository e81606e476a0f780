"""File formats: readers to canonical clips (metres, Z-up) and writers, with format detection.

Readers: BVH, LaForge/Unity CSV, joint-position CSV, each also inside zip archives. Writers: joint CSV
and LaForge CSV, each also filling the gaps of the file a clip was read from, every other cell kept.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from motion.clip import Clip
from motion.errors import InputError
from motion.formats.bvh import read_bvh
from motion.formats.joint_csv import fill_joint_csv, read_joint_csv, write_joint_csv
from motion.formats.laforge_csv import fill_laforge_csv, read_laforge_csv, write_laforge_csv
from motion.formats.masks import read_mask
from motion.formats.sources import Source, list_sources

FORMATS = ("bvh", "laforge", "joints")


@dataclass(frozen=True)
class ReadOptions:
    """How to read motion files; None means "detect" or "the format's default".

    Attributes:
        format: "bvh", "laforge" or "joints"; None detects it from the extension and content.
        fps: frame rate for formats without one (LaForge: 30; joint CSV without `time`: required).
        up: up axis of the file, "y" or "z" (BVH: y, joint CSV: z, LaForge: Unity's Y-up always).
        units: "m", "cm" or "mm" (BVH: from the skeleton's height; CSV: m).
    """

    format: str | None = None
    fps: float | None = None
    up: str | None = None
    units: str | None = None


def detect_format(name: str, head: bytes) -> str:
    """The format of a file from its name and first bytes: "bvh", "laforge" or "joints"."""
    start = head.lstrip()[:64]
    first_line = head.split(b"\n", 1)[0]
    if name.lower().endswith(".bvh") or start.startswith(b"HIERARCHY"):
        return "bvh"
    if b";" in first_line and b"(" in first_line:
        return "laforge"
    if b"_x" in first_line and b"," in first_line:
        return "joints"
    raise InputError(f"{name}: cannot tell the format (BVH, LaForge CSV or joint CSV); pass --format")


def read_source(source: Source, options: ReadOptions = ReadOptions(), labels: bool = True) -> list[Clip]:
    """Every clip in one motion file (several for a multi-take LaForge CSV), with sidecar labels."""
    data = source.read()
    kind = options.format or detect_format(source.name, data[:4096])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InputError(f"{source.name}: not UTF-8 text (byte {err.start})") from None
    if kind == "bvh":
        clips = [read_bvh(text, source.name, source.stem, options.units, options.up or "y")]
    elif kind == "laforge":
        clips = read_laforge_csv(text, source.name, source.stem, options.fps, options.units or "m")
    elif kind == "joints":
        clip = read_joint_csv(text, source.name, source.stem, options.fps, options.up or "z", options.units or "m")
        clips = [clip]
    else:
        raise InputError(f"{source.name}: unknown format {kind!r}; expected one of {', '.join(FORMATS)}")
    if labels:
        found = source.labels()
        clips = [replace(clip, labels=found) for clip in clips] if found else clips
    return clips


def read_clips(paths: str | Path | Iterable[str | Path], options: ReadOptions = ReadOptions()) -> list[Clip]:
    """Every clip in the given files, folders and zip archives, in listing order."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    return [clip for source in list_sources(paths) for clip in read_source(source, options)]


__all__ = [
    "FORMATS",
    "ReadOptions",
    "Source",
    "detect_format",
    "fill_joint_csv",
    "fill_laforge_csv",
    "list_sources",
    "read_clips",
    "read_mask",
    "read_source",
    "write_joint_csv",
    "write_laforge_csv",
]
