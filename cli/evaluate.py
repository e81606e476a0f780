"""`motion evaluate`: every figure of the trained models against the papers and real held-out data
(evaluation.evaluate), as a JSON of figures, a Markdown report and PNG plots."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cli.common import add_debug_argument, make, parser, run_guarded, split_list
from evaluation.evaluate import PARTS, EvaluationConfig, evaluate
from motion.assets import DRMM_MODEL, HGVAE_MODEL
from motion.errors import InputError

DEFAULTS = EvaluationConfig()


def build_parser() -> argparse.ArgumentParser:
    command = parser(
        "motion evaluate",
        "Measure trained models against the papers and real held-out data; write figures.json, report.md and PNG plots.",
    )
    command.add_argument("--data", required=True, type=Path, help="the mocap archive the models were trained on")
    command.add_argument("--drmm", type=Path, default=DRMM_MODEL, help="DRMM checkpoint (default: the shipped one)")
    command.add_argument("--hgvae", type=Path, default=HGVAE_MODEL, help="HG-VAE checkpoint (default: the shipped one)")
    command.add_argument("--out", type=Path, default=Path("out/evaluation"), help="report folder")
    command.add_argument("--parts", default=",".join(DEFAULTS.parts), help=f"comma-separated, of {', '.join(PARTS)}")
    command.add_argument(
        "--segments", type=int, default=DEFAULTS.segments, help="held-out segments of the log-likelihood"
    )
    command.add_argument(
        "--passes", type=int, default=DEFAULTS.passes, help="S, importance passes of the log-likelihood"
    )
    command.add_argument(
        "--samples", type=int, default=DEFAULTS.samples, help="samples (and real segments) of precision/recall"
    )
    command.add_argument(
        "--depth-iterations", type=int, default=DEFAULTS.depth_iterations, help="training iterations per DRMM depth"
    )
    command.add_argument(
        "--depth-components", type=int, default=DEFAULTS.depth_components,
        help="K of the 1-layer DRMM that sets the parameter budget",
    )  # fmt: skip
    command.add_argument("--seconds", type=float, default=DEFAULTS.seconds, help="length of each playback take")
    command.add_argument(
        "--seeds", default=",".join(map(str, DEFAULTS.seeds)), help="seeds of the takes; figures are medians over them"
    )
    command.add_argument(
        "--windows", type=int, default=DEFAULTS.windows, help="held-out windows occluded for imputation"
    )
    command.add_argument(
        "--hgvae-depth-epochs", type=int, default=DEFAULTS.hgvae_depth_epochs, help="training epochs per HG-VAE depth"
    )
    command.add_argument(
        "--fill-clips", type=int, default=DEFAULTS.fill_clips, help="clips per set of the gap-filling figures"
    )
    command.add_argument(
        "--held-out-hgvae", type=Path,
        help="an HG-VAE trained on some contents only: gap filling on the others too (default: none)",
    )  # fmt: skip
    command.add_argument(
        "--save-fallback", action="store_true",
        help="record each HG-VAE's fallback rule fitted by --parts fills in its checkpoint, for motion impute",
    )  # fmt: skip
    command.add_argument("--device", default=DEFAULTS.device, help="torch device (a GPU when there is one)")
    add_debug_argument(command)
    return command


def run(args: argparse.Namespace) -> int:
    try:
        seeds = tuple(int(seed) for seed in split_list(args.seeds))
    except ValueError:
        raise InputError(f"--seeds {args.seeds!r}: expected comma-separated integers, e.g. 0,1,2") from None
    config = make(
        EvaluationConfig,
        parts=split_list(args.parts), segments=args.segments, passes=args.passes, samples=args.samples,
        depth_iterations=args.depth_iterations, depth_components=args.depth_components, seconds=args.seconds,
        seeds=seeds, windows=args.windows, hgvae_depth_epochs=args.hgvae_depth_epochs, fill_clips=args.fill_clips,
        held_out_hgvae=args.held_out_hgvae, save_fallback=args.save_fallback, device=args.device,
    )  # fmt: skip
    report = evaluate(args.data, args.out, args.drmm, args.hgvae, config)
    written = sorted(path.name for path in args.out.iterdir() if path.suffix in (".json", ".md", ".png"))
    print(f"wrote {', '.join(written)} to {args.out} in {report['seconds'] / 60:.1f} min")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_guarded(run, build_parser().parse_args(argv), "interrupted")


if __name__ == "__main__":
    sys.exit(main())
