"""Motion synthesis toolkit core: skeletons, geometry, file formats, the segment layout and datasets."""

__version__ = "0.1.0"

from motion.clip import Clip  # noqa: E402
from motion.errors import InputError  # noqa: E402
from motion.skeleton import JointMap, Skeleton, load_joint_map, load_preset, preset_joint_map  # noqa: E402

__all__ = ["Clip", "InputError", "JointMap", "Skeleton", "load_joint_map", "load_preset", "preset_joint_map"]
