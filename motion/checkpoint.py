"""Checkpoint files: a self-describing dict of tensors and plain values, written atomically
and read with `torch.load(weights_only=True)`, so opening one never runs pickled code.

Every checkpoint holds "format", "kind" (the model: "drmm", "hgvae", ...), "config" (the
model's config dataclass as a dict) and "model" (its state_dict); training adds optimiser,
RNG and progress entries.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

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
    except Exception as err:  # noqa: BLE001 - whatever a malformed file makes torch.load raise
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise InputError(f"{path}: not a readable checkpoint ({first_line})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise InputError(f"{path}: not a motion checkpoint (expected format {FORMAT!r})")
    if kind is not None and payload.get("kind") != kind:
        raise InputError(f"{path}: holds a {payload.get('kind')!r} model, expected {kind!r}")
    return payload


TRAINING_STATE = ("optimizer", "rng")  # what only resuming needs


def export_checkpoint(source: str | Path, path: str | Path) -> int:
    """Copy a training checkpoint without its optimiser and RNG state: the model to ship.

    Everything a model is used with stays (config, weights, layout, skeleton, labels, the
    iteration and the recipe it was trained with). Returns the size written in bytes.
    """
    payload = load_checkpoint(source)
    save_checkpoint(path, {k: v for k, v in payload.items() if k not in TRAINING_STATE})
    return Path(path).stat().st_size


def save_model(path: str | Path, kind: str, model: nn.Module, extra: dict | None = None) -> None:
    """Write a model's config (a dataclass with to_dict) and weights, plus `extra` entries."""
    save_checkpoint(path, {"kind": kind, "config": model.config.to_dict(), "model": model.state_dict()} | (extra or {}))


def load_model(
    path: str | Path, kind: str, build: Callable[[dict], nn.Module], device: str | torch.device = "cpu"
) -> tuple[nn.Module, dict]:
    """Rebuild a model of `kind` from a checkpoint: `build(config_dict)`, then its weights.

    Returns:
        the model in eval mode on `device`, and the whole checkpoint dict (layout, labels, ...).
    """
    payload = load_checkpoint(path, kind=kind, map_location=device)
    model = build(payload["config"]).to(device)
    model.load_state_dict(payload["model"])
    return model.eval(), payload
