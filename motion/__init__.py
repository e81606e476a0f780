"""The core library: clips, skeletons, geometry, file formats, the segment and window layouts and their
encodings, datasets, checkpoints and the models; imports none of the other packages.

The names below are what a user imports (`from motion import read_clips, load_dataset`); each is
loaded on first use, so `import motion` (and `motion --help`) stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

_EXPORTS = {
    "Clip": "motion.clip",
    "InputError": "motion.errors",
    "JointMap": "motion.skeleton",
    "Skeleton": "motion.skeleton",
    "load_joint_map": "motion.skeleton",
    "load_preset": "motion.skeleton",
    "preset_joint_map": "motion.skeleton",
    "ReadOptions": "motion.formats",
    "read_clips": "motion.formats",
    "write_joint_csv": "motion.formats",
    "write_laforge_csv": "motion.formats",
    "SegmentLayout": "motion.layout",
    "WindowLayout": "motion.layout",
    "Dataset": "motion.dataset",
    "load_dataset": "motion.dataset",
    "ModelMetadata": "motion.checkpoint",
    "ClipImputation": "motion.impute",
    "impute_clip": "motion.impute",
}

__all__ = [  # the names of _EXPORTS, spelled out for tools that read __all__
    "Clip",
    "ClipImputation",
    "Dataset",
    "InputError",
    "JointMap",
    "ModelMetadata",
    "ReadOptions",
    "SegmentLayout",
    "Skeleton",
    "WindowLayout",
    "__version__",
    "impute_clip",
    "load_dataset",
    "load_joint_map",
    "load_preset",
    "preset_joint_map",
    "read_clips",
    "write_joint_csv",
    "write_laforge_csv",
]

if TYPE_CHECKING:
    from motion.checkpoint import ModelMetadata
    from motion.clip import Clip
    from motion.dataset import Dataset, load_dataset
    from motion.errors import InputError
    from motion.formats import ReadOptions, read_clips, write_joint_csv, write_laforge_csv
    from motion.impute import ClipImputation, impute_clip
    from motion.layout import SegmentLayout, WindowLayout
    from motion.skeleton import JointMap, Skeleton, load_joint_map, load_preset, preset_joint_map


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'motion' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value  # later lookups skip this function
    return value
