"""`motion impute`: fill occluded joint positions in a clip with a trained HG-VAE (motion.impute.impute_file),
written in the input's own format with every observed value kept."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cli.common import add_debug_argument, add_read_arguments, parser, read_options, run_guarded
from motion.impute import impute_file
from motion.models import HGVAE
from motion.models.hgvae import MAP_LR


def build_parser() -> argparse.ArgumentParser:
    command = parser(
        "motion impute",
        "Fill occluded joint positions in a clip with a trained HG-VAE (MAP imputation). "
        "Occlusions are empty or NaN cells, or given by --mask. The output keeps the input's format "
        "(BVH input, which stores rotations, is written as joint CSV) and every observed value.",
    )
    command.add_argument("input", type=Path, help="a motion file: joint CSV, LaForge CSV or BVH")
    command.add_argument("--model", required=True, type=Path, help="HG-VAE checkpoint (motion train hgvae)")
    command.add_argument("--out", required=True, type=Path, help="output file")
    command.add_argument(
        "--mask", type=Path,
        help="occlusion mask: .npy (frames, joints[, 3]) or CSV of 0/1 per joint and frame (default: the empty cells)",
    )  # fmt: skip
    command.add_argument("--steps", type=int, default=10, help="Adam steps of the MAP search")
    command.add_argument(
        "--lr", type=float, default=MAP_LR, help="Adam learning rate, standard deviations of each entry per step"
    )
    command.add_argument(
        "--start", choices=("interpolate", "mean"), default="interpolate", help="where the search starts"
    )
    command.add_argument(
        "--joint-map",
        help="JSON joint map for a skeleton that is no preset, as in motion preprocess (default: presets)",
    )
    command.add_argument("--label", help="content label for a class-conditional model (default: the clip's own)")
    add_read_arguments(command)
    command.add_argument("--device", default="cpu", help="torch device, e.g. cuda")
    add_debug_argument(command)
    return command


def run(args: argparse.Namespace) -> int:
    model = HGVAE.load(args.model, device=args.device)
    results = impute_file(
        model, args.input, args.out, args.mask, read_options(args), args.label, args.steps, args.lr, args.start,
        args.joint_map,
    )  # fmt: skip
    filled = sum(int(r.filled.sum()) for r in results)
    uncovered = sum(r.uncovered for r in results)
    windows = sum(r.windows for r in results)
    imputed = [r for r in results if r.windows]
    message = f"filled {filled:,} values in {windows} windows"
    if imputed:
        before = sum(r.elbo_before * r.windows for r in imputed) / windows
        after = sum(r.elbo_after * r.windows for r in imputed) / windows
        message += f"; ELBO per window {before:,.1f} before, {after:,.1f} after (nats)"
    if uncovered:
        message += f"; {uncovered:,} missing values on joints the model does not have were left empty"
    print(f"{message}; wrote {args.out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_guarded(run, build_parser().parse_args(argv), "interrupted")


if __name__ == "__main__":
    sys.exit(main())
