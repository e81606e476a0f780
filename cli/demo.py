"""`motion demo`: what the shipped models do, on a fresh machine with no data and no GPU (evaluation.demo)."""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

from cli.common import add_debug_argument, parser, run_guarded
from evaluation.demo import CLIP, generate_take, impute_gaps
from motion.assets import DRMM_MODEL, HGVAE_MODEL
from motion.errors import InputError
from playback.flags import COURSE


def build_parser() -> argparse.ArgumentParser:
    command = parser(
        "motion demo",
        "Generate a take toward flags with the shipped DRMM and render it; impute a shipped clip with gaps "
        "with the shipped HG-VAE; print the figures of both.",
    )
    command.add_argument("--out", type=Path, default=Path("out"), help="folder for the video and clips")
    command.add_argument("--seconds", type=float, default=20.0, help="length of the take")
    command.add_argument("--seed", type=int, default=0, help="random seed of the take and the gaps")
    command.add_argument("--drmm", type=Path, default=DRMM_MODEL, help="DRMM checkpoint (default: the shipped one)")
    command.add_argument("--hgvae", type=Path, default=HGVAE_MODEL, help="HG-VAE checkpoint (default: the shipped one)")
    command.add_argument(
        "--clip", type=Path, default=CLIP, help="clip to put gaps in and impute (default: a shipped one)"
    )
    add_debug_argument(command)
    return command


def run(args: argparse.Namespace) -> int:
    if args.seconds <= 0:
        raise InputError("--seconds must be > 0")
    for path in (args.drmm, args.hgvae, args.clip):
        if not path.is_file():
            raise InputError(f"{path}: no such file")
    started = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)

    print(f"1/2 generating a {args.seconds:g} s take toward flags at {COURSE} with {args.drmm}", flush=True)
    take = generate_take(args.drmm, args.out, args.seconds, args.seed)
    figures = take.figures
    print(
        f"    {take.flags_reached} flags reached ({figures['flags_per_minute']:.0f}/min), facing error "
        f"{figures['facing_error_deg']:.1f}°, foot skating {figures['foot_skating_m_s']:.3f} m/s, "
        f"bone-length CV {figures['bone_length_cv_percent']:.2f} %, jerk {figures['jerk_m_s3']:.0f} m/s³, "
        f"{figures['decision_ms']:.0f} ms per decision"
    )

    print(f"2/2 imputing gaps made in {args.clip.name} with {args.hgvae}", flush=True)
    gaps = impute_gaps(args.hgvae, args.out, args.clip, args.seed)
    print(
        f"    {gaps.missing:,} of {gaps.values:,} values ({gaps.missing / gaps.values:.1%}) taken out of "
        f"{gaps.seconds:.1f} s; error of the filled values per joint (MSE): "
        + "; ".join(
            f"{name} {figures['mpjpe_mm']:.1f} mm ({figures['mse_cm2']:.2f} cm²)"
            for name, figures in (("HG-VAE", gaps.hgvae), ("donor fill", gaps.donor), ("linear", gaps.linear))
        )
        + (
            f"; ELBO per window {gaps.elbo_before:,.0f} before, {gaps.elbo_after:,.0f} after; its probe kept "
            f"{gaps.model_weight:.0%} of the model's departure from the donor fill"
            if not math.isnan(gaps.elbo_before)  # NaN: the model ran on no window
            else "; the model did not run (every gap within its fallback, or without a probe): the donor fill stands"
        )
    )
    written = [take.video, take.positions, gaps.gaps, gaps.imputed]
    print(f"done in {time.perf_counter() - started:.0f} s; wrote " + ", ".join(str(path) for path in written))
    print(f"watch {written[0]}; `motion render {written[-1]} --out out/imputed.mp4` renders the filled clip")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_guarded(run, build_parser().parse_args(argv), "interrupted")


if __name__ == "__main__":
    sys.exit(main())
