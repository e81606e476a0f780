"""OUT/manifest.json: what a batch job has finished, so that a rerun with the same settings resumes.

The manifest holds the job's settings and one entry per finished input, keyed by the input's name
(motion.formats.Source.name); each entry carries a key that changes when the input does (its size,
modification time and whatever else the job depends on). It is rewritten atomically after each
piece of work, so an interrupted job loses at most the work in flight.
"""

from __future__ import annotations

import json
from pathlib import Path

import motion
from motion.atomic import write_bytes_atomic
from motion.errors import InputError
from motion.formats import Source

MANIFEST = "manifest.json"


def source_key(source: Source, *extra) -> list:
    """What identifies a version of an input: its size and modification time, then `extra`."""
    return [source.size, source.mtime, *extra]


class Manifest:
    """The settings of a job writing into a folder, and its finished inputs (`inputs`: name -> entry dict)."""

    def __init__(self, out: Path, settings: dict):
        self.path = out / MANIFEST
        self.settings = settings
        self.inputs: dict[str, dict] = {}

    @classmethod
    def load(cls, out: Path, settings: dict, overwrite: bool) -> Manifest:
        """The manifest in `out` (empty when there is none or `overwrite`).

        Raises:
            InputError: the manifest is unreadable, or was written with other settings.
        """
        manifest = cls(out, settings)
        if overwrite or not manifest.path.exists():
            return manifest
        try:
            data = json.loads(manifest.path.read_text())
            previous, inputs = data["config"], data["inputs"]
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise InputError(
                f"{manifest.path}: unreadable manifest ({err}); pass --overwrite to start afresh"
            ) from None
        if previous != settings:
            field = next(k for k in sorted(set(previous) | set(settings)) if previous.get(k) != settings.get(k))
            raise InputError(
                f"{out} was written with other settings ({field}: {previous.get(field)!r}, now "
                f"{settings.get(field)!r}); use another --out or pass --overwrite"
            )
        manifest.inputs = inputs
        return manifest

    def save(self) -> None:
        data = {"version": motion.__version__, "config": self.settings, "inputs": self.inputs}
        write_bytes_atomic(self.path, json.dumps(data, indent=1).encode())
