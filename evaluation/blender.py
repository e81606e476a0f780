"""Blender as a real client of our BVH files: import one with Blender's own importer
(bpy.ops.import_anim.bvh) and read the armature's joint world positions frame by frame.

Blender's Python module (`pip install bpy`, about 1 GB, pinned to one Python version) is an
optional extra, so this file also runs as a script under any Python that has it:
`python evaluation/blender.py FILE.bvh OUT.npz`. It imports nothing of ours for that reason.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

PYTHON_VARIABLE = "MOTION_BLENDER_PYTHON"
"""An interpreter with bpy installed, used when this one has none."""


def blender_python() -> str | None:
    """The Python to run Blender's importer with: this one if it has bpy, else $MOTION_BLENDER_PYTHON, else None."""
    if importlib.util.find_spec("bpy") is not None:
        return sys.executable
    return os.environ.get(PYTHON_VARIABLE) or None


def blender_positions(path: str | Path, python: str | None = None) -> tuple[list[str], np.ndarray]:
    """Import a BVH file (centimetres, Y-up) into Blender and read its joints back.

    Args:
        path: the BVH file.
        python: an interpreter with bpy; None: blender_python().
    Returns:
        the bone names in file order, and (frames, joints, 3) float32 world positions of each
        bone's head, metres, Z-up (Blender's world, which is ours once the importer turns Y-up).
    Raises:
        RuntimeError: no interpreter with bpy, or the import failed.
    """
    python = python or blender_python()
    if python is None:
        raise RuntimeError(f"no Python with bpy: pip install bpy, or set {PYTHON_VARIABLE}")
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "heads.npz"
        done = subprocess.run([python, __file__, str(path), str(out)], capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"Blender could not import {path}: {done.stderr.strip()[-500:]}")
        data = np.load(out)
        return [str(name) for name in data["names"]], data["positions"]


def _import_and_read(path: str, out: str) -> None:
    import bpy  # only under a Python with Blender's module

    bpy.ops.wm.read_factory_settings(use_empty=True)
    result = bpy.ops.import_anim.bvh(
        filepath=path, target="ARMATURE", global_scale=0.01, frame_start=1, use_fps_scale=False,
        update_scene_fps=True, update_scene_duration=True, rotate_mode="NATIVE", axis_forward="-Z", axis_up="Y",
    )  # fmt: skip
    if result != {"FINISHED"}:
        raise SystemExit(f"import_anim.bvh returned {result}")
    armature = next(o for o in bpy.context.scene.objects if o.type == "ARMATURE")
    first, last = (int(round(v)) for v in armature.animation_data.action.frame_range)
    bones = len(armature.pose.bones)
    heads = np.empty((last - first + 1, bones, 3), np.float32)
    flat = np.empty(bones * 3, np.float32)
    world = np.array(armature.matrix_world, np.float32)
    for index, frame in enumerate(range(first, last + 1)):
        bpy.context.scene.frame_set(frame)
        armature.pose.bones.foreach_get("head", flat)  # armature space
        heads[index] = flat.reshape(bones, 3) @ world[:3, :3].T + world[:3, 3]
    np.savez(out, positions=heads, names=np.array([bone.name for bone in armature.pose.bones]))


if __name__ == "__main__":
    _import_and_read(sys.argv[1], sys.argv[2])
