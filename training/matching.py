"""Building a motion-matching database (motion.models.matching) from mocap: `motion train matching`.

There is nothing to optimise: the train-split clips, as preprocessing splits them, are mapped onto
the training skeleton at the segments' rate, their features computed and standardised, and the
database written as a checkpoint that `motion generate --model` plays like any model.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from motion.checkpoint import ModelMetadata, save_model
from motion.conventions import DEFAULT_FPS, TRAINING_SKELETON
from motion.dataset import SPLITS
from motion.errors import InputError
from motion.formats import ReadOptions
from motion.layout import SegmentLayout
from motion.models.matching import FEATURE_WEIGHTS, TRAJECTORY_FRAMES, MotionMatching
from motion.skeleton import load_preset
from motion.splits import split_clips

log = logging.getLogger(__name__)

FPS = DEFAULT_FPS
"""The database's rate: the segments' (preprocessing's segment_fps), so its frames match the DRMM's."""


@dataclass(frozen=True)
class MatchingBuild:
    """What goes into a database.

    Attributes:
        contents: content labels of the clips to use (empty: every clip).
        splits: the splits whose clips go in ("train": the test and val clips stay unseen).
        trajectory_frames, weights: the features (motion.models.matching.MatchingConfig).
        read: how to read the files.
    """

    contents: tuple[str, ...] = ()
    splits: tuple[str, ...] = ("train",)
    trajectory_frames: tuple[int, ...] = TRAJECTORY_FRAMES
    weights: tuple[float, ...] = FEATURE_WEIGHTS
    read: ReadOptions = field(default_factory=ReadOptions)

    def __post_init__(self) -> None:
        object.__setattr__(self, "contents", tuple(self.contents))
        object.__setattr__(self, "splits", tuple(self.splits))
        unknown = sorted(set(self.splits) - set(SPLITS))
        if unknown or not self.splits:
            raise InputError(f"splits: expected some of {', '.join(SPLITS)}, got {', '.join(unknown) or 'none'}")


def build_matching(
    inputs: Iterable[str | Path], out: str | Path, config: MatchingBuild = MatchingBuild(), overwrite: bool = False
) -> MotionMatching:
    """Build the database of the clips in `inputs` (files, folders, zip archives) and write it to `out`.

    Raises:
        InputError: an unreadable input, no clip of the wanted contents, or `out` exists (without `overwrite`).
    """
    out = Path(out)
    if out.exists() and not overwrite:
        raise InputError(f"{out} exists; pass --overwrite to replace it")
    began = time.perf_counter()
    inputs = [str(path) for path in inputs]
    clips = split_clips(inputs, config.contents, TRAINING_SKELETON, FPS, config.splits, config.read)
    if not clips:
        wanted = f" of contents {', '.join(config.contents)}" if config.contents else ""
        raise InputError(f"{', '.join(inputs)}: no clip{wanted} in splits {', '.join(config.splits)}")
    skeleton = load_preset(TRAINING_SKELETON)
    positions = [clip.positions for clip in clips]
    try:
        model = MotionMatching.build(positions, skeleton, FPS, config.trajectory_frames, config.weights)
    except ValueError as err:
        raise InputError(f"{', '.join(inputs)}: {err}") from None
    model.metadata = ModelMetadata(
        skeleton=skeleton,
        layout=SegmentLayout(joints=len(skeleton)),  # plays as many frames per decision as the DRMM
        fps=FPS,
        data={"path": inputs, "rows": model.config.frames, "clips": len(clips)},
        recipe={"contents": list(config.contents), "train_splits": list(config.splits)},
    )
    save_model(out, "matching", model)
    playable = int(model.playable.sum())
    log.info(
        "wrote %s: %d clips, %s frames (%s playable), %.1f s", out, len(clips), f"{model.config.frames:,}",
        f"{playable:,}", time.perf_counter() - began,
    )  # fmt: skip
    return model
