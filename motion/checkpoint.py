"""Checkpoint files: a self-describing dict of tensors and plain values, written atomically
and read with `torch.load(weights_only=True)`, so opening one never runs pickled code.

Every checkpoint holds "format", "kind" (the model: "drmm", "hgvae", ...), "config" (the
model's config dataclass as a dict) and "model" (its state_dict); training adds optimiser,
RNG and progress entries.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import torch

from motion.atomic import atomic_path
from motion.errors import InputError

FORMAT = "motion-checkpoint-1"


def save_checkpoint(path: str | Path, payload: dict) -> None:
    """Write `payload` (plus the format tag) to `path` via a temporary file and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        torch.save({"format": FORMAT} | payload, tmp)


def load_checkpoint(path: str | Path, kind: str | None = None, map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint safely.

    Args:
        path: the file.
        kind: if given, the model kind the checkpoint must hold.
        map_location: device for its tensors.
    Raises:
        InputError: missing, unreadable, not a motion checkpoint, or of another kind.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such checkpoint")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, zipfile.BadZipFile, EOFError, OSError) as err:
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise InputError(f"{path}: not a readable checkpoint ({first_line})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise InputError(f"{path}: not a motion checkpoint (expected format {FORMAT!r})")
    if kind is not None and payload.get("kind") != kind:
        raise InputError(f"{path}: holds a {payload.get('kind')!r} model, expected {kind!r}")
    return payload
