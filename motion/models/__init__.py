"""The generative models, one per module, each with its config dataclass beside it, and loading any
of them from a checkpoint."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import torch

from motion.checkpoint import ModelMetadata, restore_model
from motion.models.avips import AVIPS, AVIPSConfig
from motion.models.conditions import Condition
from motion.models.drmm import DRMM, DRMMConfig, Objective, Samples, TrainingTerms
from motion.models.hgvae import HGVAE, HGVAEConfig
from motion.models.matching import MatchingConfig, MotionMatching
from motion.models.mdn import MDN, MDNConfig

Model = DRMM | HGVAE | MDN | AVIPS | MotionMatching
KINDS = {"drmm": DRMM, "hgvae": HGVAE, "mdn": MDN, "avips": AVIPS, "matching": MotionMatching}
"""The model class of each checkpoint kind."""


def load_model(path: str | Path, device: str | torch.device = "cpu", kinds: Iterable[str] = tuple(KINDS)) -> Model:
    """The model a checkpoint holds, whichever of `kinds` it is (weights_only loading).

    Returns:
        the model in eval mode on `device`, with its `metadata` (skeleton, layout, fps, labels, recipe).
    Raises:
        InputError: unreadable, or holding a model of another kind.
    """
    return restore_model(path, {kind: KINDS[kind].from_config for kind in kinds}, device)


__all__ = [
    "AVIPS",
    "AVIPSConfig",
    "DRMM",
    "HGVAE",
    "KINDS",
    "MDN",
    "Condition",
    "DRMMConfig",
    "HGVAEConfig",
    "MDNConfig",
    "MatchingConfig",
    "MotionMatching",
    "Model",
    "ModelMetadata",
    "Objective",
    "Samples",
    "TrainingTerms",
    "load_model",
]
