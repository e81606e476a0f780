"""`motion preprocess`: mocap files to Parquet segments and windows (preprocessing.preprocess)."""

from __future__ import annotations

import argparse
import multiprocessing
import sys
from pathlib import Path

from cli.common import (
    add_debug_argument,
    add_read_arguments,
    failures_exit,
    make,
    parser,
    read_options,
    run_guarded,
    split_list,
)
from motion.dataset import DEFAULT_KINDS, KINDS
from motion.skeleton import preset_names
from preprocessing import PreprocessConfig, preprocess

DEFAULTS = PreprocessConfig()


def build_parser() -> argparse.ArgumentParser:
    command = parser(
        "motion preprocess",
        "Cut mocap files (BVH, LaForge CSV, joint CSV, also in zips) into normalised DRMM segments and "
        "HG-VAE windows, written as Parquet datasets under OUT/segments and OUT/windows (and single-frame "
        "poses for posing models under OUT/poses with --kind poses). A rerun resumes.",
    )
    command.add_argument("inputs", nargs="+", help="files, folders (searched recursively) or zip archives")
    command.add_argument("--out", required=True, type=Path, help="output folder")
    command.add_argument(
        "--kind", choices=(*KINDS, "both", "all"), default="both",
        help="datasets to write (both: segments and windows; all: also poses)",
    )  # fmt: skip
    command.add_argument(
        "--workers",
        type=int,
        default=multiprocessing.cpu_count(),
        help="worker processes (default: all cores, %(default)s)",
    )
    command.add_argument(
        "--skeleton", choices=preset_names(), default=DEFAULTS.skeleton, help="training layout every clip is mapped to"
    )
    command.add_argument(
        "--joint-map", help="JSON joint map for skeletons that are no preset (default: the presets' maps)"
    )
    add_read_arguments(command)
    command.add_argument("--contents", help="comma-separated content labels to keep, e.g. walk,run (default: all)")
    command.add_argument(
        "--segment-stride", type=int, default=DEFAULTS.segment_stride, help="frames between segment starts"
    )
    command.add_argument(
        "--segment-fps", type=float, default=DEFAULTS.segment_fps, help="frame rate segments are cut at"
    )
    command.add_argument("--window-frames", type=int, default=DEFAULTS.window_frames, help="frames per HG-VAE window")
    command.add_argument(
        "--window-fps", type=float, default=DEFAULTS.window_fps, help="frame rate HG-VAE windows are resampled to"
    )
    command.add_argument(
        "--window-stride", type=int, default=DEFAULTS.window_stride, help="frames between window starts"
    )
    command.add_argument("--pose-stride", type=int, default=DEFAULTS.pose_stride, help="frames between poses")
    command.add_argument("--overwrite", action="store_true", help="discard what OUT already holds instead of resuming")
    command.add_argument("--strict", action="store_true", help="stop at the first bad input")
    add_debug_argument(command)
    return command


def config_from_args(args: argparse.Namespace) -> PreprocessConfig:
    return make(
        PreprocessConfig,
        kinds={"both": DEFAULT_KINDS, "all": KINDS}.get(args.kind, (args.kind,)),
        skeleton=args.skeleton,
        joint_map=args.joint_map,
        read=read_options(args),
        segment_fps=args.segment_fps,
        segment_stride=args.segment_stride,
        window_frames=args.window_frames,
        window_fps=args.window_fps,
        window_stride=args.window_stride,
        pose_stride=args.pose_stride,
        contents=split_list(args.contents),
    )


def run(args: argparse.Namespace) -> int:
    summary = preprocess(
        args.inputs, args.out, config_from_args(args), workers=args.workers, overwrite=args.overwrite,
        strict=args.strict, debug=args.debug,
    )  # fmt: skip
    print(summary.report())
    print(f"datasets: {', '.join(str(path) for path in summary.datasets.values())}")
    return failures_exit(summary.failures)


def main(argv: list[str] | None = None) -> int:
    return run_guarded(
        run, build_parser().parse_args(argv), "interrupted; finished chunks are kept, run again to resume"
    )


if __name__ == "__main__":
    sys.exit(main())
