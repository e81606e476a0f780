"""The rows a training run trains and validates on: the data selection every model's training shares."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from motion.checkpoint import ModelMetadata
from motion.dataset import SPLITS, Dataset, load_dataset
from motion.errors import InputError


@dataclass(frozen=True)
class DataSelection:
    """Which rows of a dataset a run uses; a resumed run must use the same.

    Attributes:
        contents: content labels to train on; empty: every row.
        train_splits: splits to train on: ("train",), or ("train", "val") for a final model.
        val_size: random val rows to validate on (0: none; none either when val is trained on).
    """

    contents: tuple[str, ...] = ()
    train_splits: tuple[str, ...] = ("train",)
    val_size: int = 2048

    def __post_init__(self) -> None:
        object.__setattr__(self, "contents", tuple(self.contents))
        object.__setattr__(self, "train_splits", tuple(self.train_splits))
        unknown = sorted(set(self.train_splits) - set(SPLITS))
        if unknown or not self.train_splits:
            raise InputError(
                f"train_splits: expected some of {', '.join(SPLITS)}, got {', '.join(self.train_splits)!r}"
            )
        if self.val_size < 0:
            raise InputError(f"val_size: must be >= 0, got {self.val_size}")

    def settings(self) -> dict:
        """The selection as the recipe settings a checkpoint stores."""
        return {"train_splits": list(self.train_splits), "contents": list(self.contents)}


class Selection:
    """A dataset with the rows of a DataSelection picked.

    Attributes:
        path: the dataset folder.
        data: the whole dataset.
        train, val: (rows,) int64 indices of the training rows and of the validation rows.
    """

    def __init__(self, path: str | Path, kind: str | tuple[str, ...], selection: DataSelection) -> None:
        """
        Args:
            kind: the dataset kind the model trains on, or the kinds it can train on (the first is
                looked for inside a preprocessing output folder).
        """
        self.path, self.selection = Path(path), selection
        kinds = (kind,) if isinstance(kind, str) else kind
        inside = [k for k in kinds if (Path(path) / k).is_dir()]  # a preprocessing output folder's kinds
        self.data = load_dataset(path, kind=(inside or kinds)[0])
        if self.data.metadata.get("kind") not in kinds:
            raise InputError(
                f"{path}: holds {self.data.metadata.get('kind')}; this model trains on {' or '.join(kinds)}"
            )
        self.train = dataset_rows(self.data, selection.train_splits, selection.contents)
        self.val = np.zeros(0, dtype=np.int64)
        if selection.val_size and "val" not in selection.train_splits:
            val = dataset_rows(self.data, ("val",), selection.contents)
            pick = np.random.default_rng(0).permutation(len(val))[: selection.val_size]
            self.val = val[np.sort(pick)]

    def metadata(self, labels: tuple[str, ...] = (), epochs: float | None = None) -> ModelMetadata:
        """What a model trained on these rows describes: the data's skeleton, layout and rate, its path
        and row count, and its class names (the trainer adds the recipe and its progress)."""
        data = self.data
        return ModelMetadata(
            skeleton=data.skeleton,
            layout=data.layout,
            fps=data.fps,
            labels=labels,
            data={"path": str(self.path), "rows": int(len(self.train))},
            epochs=epochs,
        )


def dataset_rows(data: Dataset, splits: tuple[str, ...], contents: tuple[str, ...] = ()) -> np.ndarray:
    """Indices of the rows of the given splits, optionally only those whose content is in `contents`."""
    keep = np.isin(data.split.astype(str), splits)
    if contents:
        keep &= np.isin(data.content.astype(str), contents)
    return np.flatnonzero(keep)
