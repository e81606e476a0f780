"""`motion impute`: fill occluded joint positions with a classical fill or a trained HG-VAE, in one file
(motion.impute.impute_file) or a whole library (preprocessing.impute_files), written in each input's
own format with every observed value kept."""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import zipfile
from pathlib import Path

from cli.common import (
    add_debug_argument,
    add_read_arguments,
    failures_exit,
    make,
    parser,
    read_options,
    run_guarded,
)
from motion.errors import InputError
from motion.formats.sources import MOTION_SUFFIXES
from motion.impute import FALLBACK_SECONDS, METHODS, STARTS, impute_file
from motion.models import HGVAE
from preprocessing import ImputeConfig, impute_files

DEFAULTS = ImputeConfig()


def build_parser() -> argparse.ArgumentParser:
    command = parser(
        "motion impute",
        "Fill occluded joint positions in a clip: with a classical fill (by default the donor one: the lost joint's "
        "motion at the moments of the clip most like the gap's, on the clip's bone lengths) or a trained HG-VAE (MAP imputation from the donor "
        "fill, onto the clip's bone lengths; short gaps keep the donor fill). Occlusions are "
        "empty or NaN cells, or given by --mask. The output keeps the input's format and every observed value "
        "(a BVH keeps the text of every frame without a gap and has the others re-solved on its own rig); "
        "an --out ending in .bvh writes joint rotations, an --out ending in .csv a BVH's positions.",
    )
    command.add_argument(
        "inputs", nargs="+", type=Path,
        help="motion files (joint CSV, LaForge CSV, BVH), folders (searched recursively) or zip archives",
    )  # fmt: skip
    command.add_argument(
        "--out", required=True, type=Path,
        help="output file, for one motion file and an --out ending in .csv or .bvh; otherwise a folder, where each "
        "input is written at its path under its input and a rerun resumes",
    )  # fmt: skip
    command.add_argument(
        "--method", choices=METHODS, default=DEFAULTS.method,
        help="a classical fill: linear or cubic-spline interpolation in time, kinematic (spline or line moved "
        "onto the clip's bone lengths) or donor (gaps over 0.2 s take the joint's motion from the clip's most "
        "similar moments, on its bones: the most accurate on held-out clips); or hgvae",
    )  # fmt: skip
    command.add_argument(
        "--model",
        type=Path,
        default=Path(DEFAULTS.model),
        help="HG-VAE checkpoint, for --method hgvae and the out-of-distribution scores (default: the shipped one)",
    )
    command.add_argument(
        "--mask", type=Path,
        help="occlusion mask of one input file: .npy (frames, joints[, 3]) or CSV of 0/1 per joint and frame "
        "(default: the empty cells)",
    )  # fmt: skip
    command.add_argument(
        "--label", help="content label for a class-conditional model (default: per window, the label of highest ELBO)"
    )
    command.add_argument("--steps", type=int, default=DEFAULTS.steps, help="Adam steps of the MAP search")
    command.add_argument(
        "--lr", type=float, default=DEFAULTS.lr, help="Adam learning rate, standard deviations of each entry per step"
    )
    command.add_argument("--start", choices=STARTS, default=DEFAULTS.start, help="where the search starts")
    command.add_argument(
        "--keep-bones", action=argparse.BooleanOptionalAction, default=DEFAULTS.keep_bones,
        help="move the model's fill onto the clip's bone lengths",
    )  # fmt: skip
    command.add_argument(
        "--fallback-seconds", type=float,
        help="gaps up to this long keep the donor fill, 0: the model fills every gap, weighed by its probe (default: the rule "
        f"fitted for the model, motion evaluate --parts fills --save-fallback; else {FALLBACK_SECONDS:g})",
    )  # fmt: skip
    command.add_argument(
        "--elbo-floor", type=float,
        help="windows whose start's ELBO is under this (nats) keep the donor fill (default: the rule fitted "
        "for the model; else none)",
    )  # fmt: skip
    command.add_argument(
        "--smooth-seconds", type=float,
        help="smooth the model's departure from the donor fill in time by a Gaussian of this standard "
        "deviation (default: the rule fitted for the model; else 0)",
    )  # fmt: skip
    command.add_argument(
        "--probe", action=argparse.BooleanOptionalAction, default=DEFAULTS.probe,
        help="check the model on the clip first: hide each long gap's mirror joint (left for right) over the "
        "gap's frames too, and keep the share of the model's departure from the donor fill that fits those "
        "hidden values best (runs the model twice); a rule fitted probed, as the shipped one, holds only with it",
    )  # fmt: skip
    command.add_argument(
        "--joint-map",
        help="JSON joint map for a skeleton that is no preset, as in motion preprocess (default: presets)",
    )
    add_read_arguments(command)
    command.add_argument("--device", default="cpu", help="torch device, e.g. cuda")
    command.add_argument(
        "--workers", type=int, default=multiprocessing.cpu_count(),
        help="worker processes of a folder job (default: all cores, %(default)s)",
    )  # fmt: skip
    command.add_argument(
        "--score", action=argparse.BooleanOptionalAction, default=DEFAULTS.score,
        help="give each clip of a folder job its out-of-distribution score (ELBO per window under --model)",
    )  # fmt: skip
    command.add_argument("--overwrite", action="store_true", help="redo a folder job instead of resuming it")
    command.add_argument("--strict", action="store_true", help="stop a folder job at the first bad input")
    add_debug_argument(command)
    return command


def one_file(args: argparse.Namespace) -> bool:
    """Whether the command fills one motion file into an output file named like one (else a folder job)."""
    (given,) = args.inputs if len(args.inputs) == 1 else (None,)
    return (
        given is not None
        and given.is_file()
        and not zipfile.is_zipfile(given)
        and args.out.suffix.lower() in MOTION_SUFFIXES
        and not args.out.is_dir()
    )


def run(args: argparse.Namespace) -> int:
    if not one_file(args):
        return run_folder(args)
    model, settings = None, {}
    if args.method == "hgvae":
        model = HGVAE.load(args.model, device=args.device)
        settings = {"label": args.label, "steps": args.steps, "lr": args.lr, "start": args.start,
                    "keep_bones": args.keep_bones, "fallback_seconds": args.fallback_seconds,
                    "elbo_floor": args.elbo_floor, "smooth_seconds": args.smooth_seconds,
                    "probe": args.probe}  # fmt: skip
    results = impute_file(
        args.inputs[0], args.out, args.method, model, args.mask, read_options(args), args.joint_map, **settings
    )
    filled = sum(int(r.filled.sum()) for r in results)
    uncovered = sum(r.uncovered for r in results)
    windows = sum(r.windows for r in results)
    imputed = [r for r in results if r.windows]
    message = f"filled {filled:,} values ({args.method})" + (f" in {windows} windows" if windows else "")
    if args.method == "hgvae" and not windows:
        message += "; the model did not run (every gap within its fallback, or none with a probe): the donor fill"
    if imputed:
        before = sum(r.elbo_before * r.windows for r in imputed) / windows
        after = sum(r.elbo_after * r.windows for r in imputed) / windows
        message += f"; ELBO per window {before:,.1f} before, {after:,.1f} after (nats)"
        labels = sorted({label for r in imputed for label in r.labels})
        message += f"; labels {', '.join(labels)}" if labels else ""
        weights = ", ".join(f"{r.model_weight:.2f}" for r in imputed)
        message += f"; the model's share of the fill, fitted on the probe: {weights}" if args.probe else ""
    if uncovered:
        message += f"; {uncovered:,} missing values the fill could not reach (no observed frame, or a joint the model lacks) were left empty"
    print(f"{message}; wrote {args.out}")
    return 0


def run_folder(args: argparse.Namespace) -> int:
    if args.mask is not None:
        raise InputError(
            "--mask belongs to one input file filled into one output file (--out ending in .csv or .bvh); a folder job "
            "fills the empty cells of each file"
        )
    config = make(
        ImputeConfig, method=args.method, model=str(args.model), score=args.score, label=args.label,
        steps=args.steps, lr=args.lr, start=args.start, keep_bones=args.keep_bones,
        fallback_seconds=args.fallback_seconds, elbo_floor=args.elbo_floor, smooth_seconds=args.smooth_seconds,
        probe=args.probe, joint_map=args.joint_map,
        read=read_options(args),
    )  # fmt: skip
    summary = impute_files(
        args.inputs, args.out, config, workers=args.workers, device=args.device, overwrite=args.overwrite,
        strict=args.strict, debug=args.debug,
    )  # fmt: skip
    print(summary.report())
    return failures_exit(summary.failures)


def main(argv: list[str] | None = None) -> int:
    return run_guarded(
        run, build_parser().parse_args(argv), "interrupted; finished files are kept, run again to resume"
    )


if __name__ == "__main__":
    sys.exit(main())
