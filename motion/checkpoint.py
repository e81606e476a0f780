"""Checkpoint files: a self-describing dict of tensors and plain values, written atomically
and read with `torch.load(weights_only=True)`, so opening one never runs pickled code.

Every checkpoint holds "format", "kind" (the model: "drmm", "hgvae", "mdn"), "config" (the
model's config dataclass as a dict) and "model" (its state_dict). A trained model's checkpoint
also describes what it models and how it was trained (ModelMetadata); training adds optimiser and
RNG state, which only resuming needs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import torch
from torch import nn

from motion.atomic import atomic_path
from motion.errors import InputError
from motion.layout import SegmentLayout, WindowLayout
from motion.skeleton import Skeleton

FORMAT = "motion-checkpoint-1"
TRAINING_STATE = ("optimizer", "rng", "recipe_state")  # what only resuming needs


@dataclass(frozen=True)
class ModelMetadata:
    """What a trained model's checkpoint says besides its weights: the data it models and how it was trained.

    Attributes:
        skeleton: the joints of every pose the model reads and writes.
        layout: the layout of its vectors: SegmentLayout (DRMM, MDN) or WindowLayout (HG-VAE).
        fps: frame rate of those vectors.
        labels: the class names of a class-conditional model, in class-index order (empty otherwise).
        data: where it was trained: {"path": ..., "rows": ...}.
        recipe: the training settings a resumed run must share: the data selection ("contents",
            "train_splits") and the model's own (the DRMM's "regularization", ...).
        training: the shared trainer's settings (training.trainer.TrainConfig as a dict).
        iteration: training iterations done.
        epochs: passes over the training rows asked for (HG-VAE), or None.
        imputation: the HG-VAE's fallback rule, fitted on val clips after training
            (evaluation.gap_filling.fit_fallback; save_imputation_rule): "fallback_seconds",
            "elbo_floor" and "smooth_seconds", as motion.impute.impute_clip takes them, "fill", the
            classical fill it was fitted against (motion.impute.BASE_FILL), and "probe", whether it
            was fitted on probed fills; empty when never fitted.
    """

    skeleton: Skeleton
    layout: SegmentLayout | WindowLayout
    fps: float
    labels: tuple[str, ...] = ()
    data: Mapping[str, Any] = field(default_factory=dict)
    recipe: Mapping[str, Any] = field(default_factory=dict)
    training: Mapping[str, Any] = field(default_factory=dict)
    iteration: int | None = None
    epochs: float | None = None
    imputation: Mapping[str, float | str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("data", "recipe", "training", "imputation"):  # frozen means frozen: no edits through the mappings
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))
        object.__setattr__(self, "labels", tuple(self.labels))

    @property
    def contents(self) -> tuple[str, ...]:
        """The content labels the model was trained on; empty when every row was."""
        return tuple(self.recipe.get("contents") or ())

    def label_index(self, name: str) -> int:
        """The class index of label `name`.

        Raises:
            InputError: the model knows no such label (the message lists those it knows).
        """
        if name not in self.labels:
            raise InputError(f"label {name!r}: the model knows {', '.join(self.labels) or 'no labels'}")
        return self.labels.index(name)

    def label_indices(self, names: Sequence[str | None], where: str) -> np.ndarray:
        """(rows,) int64 class index of each row's label; InputError naming the first row without a known one."""
        lookup = {name: i for i, name in enumerate(self.labels)}
        missing = [row for row, name in enumerate(names) if name not in lookup]
        if missing:
            found = names[missing[0]]
            has = "no label" if found is None else f"label {found!r}"
            raise InputError(f"{where}: row {missing[0]} has {has}; the model knows {', '.join(self.labels)}")
        return np.array([lookup[name] for name in names], dtype=np.int64)

    def entries(self) -> dict:
        """The checkpoint entries that describe the model (what from_checkpoint reads back)."""
        entries = {
            "skeleton": self.skeleton.to_dict(),
            "layout": self.layout.to_dict(),
            "fps": self.fps,
            "data": dict(self.data),
            "recipe": dict(self.recipe),
            "train": dict(self.training),
        }
        if self.labels:
            entries["labels"] = list(self.labels)
        if self.iteration is not None:
            entries["iteration"] = self.iteration
        if self.epochs is not None:
            entries["epochs"] = self.epochs
        if self.imputation:
            entries["imputation"] = dict(self.imputation)
        return entries

    @classmethod
    def from_checkpoint(cls, payload: Mapping) -> ModelMetadata | None:
        """The metadata of a checkpoint dict; None for one that describes no data (a bare model)."""
        if "layout" not in payload or "skeleton" not in payload or "fps" not in payload:
            return None
        layout_data = payload["layout"]  # the two layouts' fields differ: a segment's has context blocks
        layout = (SegmentLayout if "context_blocks" in layout_data else WindowLayout).from_dict(layout_data)
        return cls(
            skeleton=Skeleton.from_dict(payload["skeleton"]),
            layout=layout,
            fps=float(payload["fps"]),
            labels=tuple(payload.get("labels") or ()),
            data=payload.get("data") or {},
            recipe=payload.get("recipe") or {},
            training=payload.get("train") or {},
            iteration=payload.get("iteration"),
            epochs=payload.get("epochs"),
            imputation=payload.get("imputation") or {},
        )


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


def save_imputation_rule(path: str | Path, rule: Mapping[str, float | str | bool]) -> None:
    """Record an HG-VAE's fitted fallback rule (ModelMetadata.imputation) in its checkpoint, in place
    (atomically); everything else in the file stays as it was."""
    payload = load_checkpoint(path, "hgvae")
    save_checkpoint(path, {k: v for k, v in payload.items() if k != "format"} | {"imputation": dict(rule)})


def export_checkpoint(source: str | Path, path: str | Path) -> int:
    """Copy a training checkpoint without its optimiser and RNG state: the model to ship.

    Everything a model is used with stays (config, weights, layout, skeleton, labels, the
    iteration and the recipe it was trained with). Returns the size written in bytes.
    """
    payload = load_checkpoint(source)
    save_checkpoint(path, {k: v for k, v in payload.items() if k not in TRAINING_STATE})
    return Path(path).stat().st_size


def save_model(path: str | Path, kind: str, model: nn.Module) -> None:
    """Write a model's config (a dataclass with to_dict), weights and metadata (when it has some)."""
    metadata = getattr(model, "metadata", None)
    described = metadata.entries() if metadata is not None else {}
    save_checkpoint(path, {"kind": kind, "config": model.config.to_dict(), "model": model.state_dict()} | described)


def restore_model(
    path: str | Path, builders: Mapping[str, Callable[[dict], nn.Module]], device: str | torch.device = "cpu"
) -> nn.Module:
    """Rebuild the model a checkpoint holds: `builders[kind](config_dict)`, then its weights and metadata.

    Args:
        builders: for each model kind accepted, how to build it from its config dict.
    Returns:
        the model in eval mode on `device`, with `model.metadata` (ModelMetadata, or None for a
        checkpoint that describes no data).
    Raises:
        InputError: unreadable, or of a kind not in `builders`.
    """
    payload = load_checkpoint(path, map_location=device)
    kind = payload.get("kind")
    if kind not in builders:
        raise InputError(f"{path}: holds a {kind!r} model, expected {' or '.join(map(repr, builders))}")
    model = builders[kind](payload["config"]).to(device)
    model.load_state_dict(payload["model"])
    model.metadata = ModelMetadata.from_checkpoint(payload)
    return model.eval()
