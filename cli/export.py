"""`motion export`: any motion clip as BVH with joint rotations, on its own skeleton, a preset's or a BVH file's
(motion.retarget)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from cli.common import add_debug_argument, add_read_arguments, parser, read_one_clip, read_options, run_guarded
from motion.errors import InputError
from motion.formats.bvh import read_bvh
from motion.retarget import load_rig_map, target_rig, write_clip_bvh
from motion.rig import DEFAULT_ORDER
from motion.skeleton import preset_names


def add_bvh_arguments(command: argparse.ArgumentParser) -> None:
    """--skeleton, --like, --joint-map and --order: the rig a command writes BVH on."""
    rig = command.add_mutually_exclusive_group()
    rig.add_argument(
        "--skeleton",
        choices=preset_names(),
        help="write onto this preset's skeleton and proportions (default: the clip's own skeleton, its median "
        "bone lengths in a T-pose)",
    )
    rig.add_argument(
        "--like",
        type=Path,
        help="write onto the hierarchy, offsets, channel orders, units and rest pose of this BVH file (default: no)",
    )
    command.add_argument(
        "--joint-map",
        type=Path,
        help='JSON {"joints": {rig_joint: clip_joint, ...}} for a --like rig whose joints are neither the clip\'s '
        "nor a preset's; the rig's joints it leaves out follow their parent (default: match by name or preset)",
    )
    command.add_argument(
        "--order",
        help=f"Euler order of every rotation channel, e.g. XYZ (default: the --like file's, else {DEFAULT_ORDER})",
    )


def rig_map(args: argparse.Namespace) -> dict[str, str] | None:
    """The --joint-map of a command with add_bvh_arguments, loaded (None without one)."""
    return load_rig_map(args.joint_map) if args.joint_map is not None else None


def check_bvh_output(path: Path, flag: str = "--out") -> None:
    """An InputError unless `path` ends in .bvh inside a folder that exists."""
    if path.suffix.lower() != ".bvh":
        raise InputError(f"{path}: {flag} must end in .bvh")
    if not path.parent.is_dir():
        raise InputError(f"{path}: no folder {path.parent} to write it in")


def build_parser() -> argparse.ArgumentParser:
    command = parser(
        "motion export",
        "Write a motion clip (BVH, LaForge CSV, joint CSV) as BVH with joint rotations (Y-up, centimetres).",
    )
    command.add_argument("input", type=Path, help="a motion file, or a folder or zip of them with --clip")
    command.add_argument("--clip", help="name of the clip to export when the input holds several (default: the one)")
    command.add_argument("--out", required=True, type=Path, help="the BVH file to write")
    add_bvh_arguments(command)
    add_read_arguments(command)
    add_debug_argument(command)
    return command


def run(args: argparse.Namespace) -> int:
    check_bvh_output(args.out)
    rig = target_rig(args.skeleton, args.like, args.order)
    clip = read_one_clip(args.input, args.clip, read_options(args))
    began = time.perf_counter()
    animation = write_clip_bvh(clip, args.out, rig, args.order or DEFAULT_ORDER, rig_map(args))
    seconds = time.perf_counter() - began
    print(
        f"wrote {args.out}: {animation.frames} frames, {len(animation.rig.skeleton)} joints "
        f"({animation.rig.skeleton.name}), {seconds:.2f} s"
    )
    if args.skeleton is None and set(animation.rig.skeleton.joints) == set(clip.skeleton.joints):
        rig = animation.rig
        written = read_bvh(args.out.read_text(), str(args.out), args.out.stem, rig.units, rig.up)
        index = [written.skeleton.index(joint) for joint in clip.skeleton.joints]
        error = np.linalg.norm(written.positions[:, index] - clip.positions, axis=-1)
        print(
            f"  its joints lie {error.mean() * 1000:.2f} mm (mean) from the input's, {error.max() * 1000:.2f} mm at most"
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_guarded(run, build_parser().parse_args(argv), "interrupted")


if __name__ == "__main__":
    sys.exit(main())
