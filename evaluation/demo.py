"""`motion demo`: what the shipped models do, on a fresh machine with no data and no GPU.

1. The shipped DRMM generates a take on the scripted course of flags, rendered to OUT/demo.mp4
   (positions in OUT/demo-take.csv), with its steering and motion figures.
2. The shipped HG-VAE imputes a shipped Bandai clip with artificial gaps (joints lost over spans
   of 10-40 frames, as markers drop out, plus scattered values): the clip with its gaps is
   written to OUT/demo-gaps.csv, the filled clip to OUT/demo-imputed.csv, and the error of
   the filled values is compared with linear interpolation.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from evaluation.imputation import SCATTERED, errors
from motion.cli import run_guarded
from motion.errors import InputError
from motion.skeleton import ASSETS_DIR

MODELS = ASSETS_DIR / "models"
CLIP = ASSETS_DIR / "clips" / "bandai" / "data" / "dataset-2_walk-turn-left_normal_027.bvh"
GAP_WINDOW = 50  # frames per stretch of the clip that loses one to three joints over a span


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="motion demo",
        description="Generate a take toward flags with the shipped DRMM and render it; impute a shipped clip "
        "with gaps with the shipped HG-VAE; print the figures of both.",
    )
    parser.add_argument("--out", type=Path, default=Path("out"), help="folder for the video and clips (default out)")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the take (default 20)")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the take and the gaps")
    parser.add_argument("--drmm", type=Path, default=MODELS / "drmm.pt", help="DRMM checkpoint (default: shipped)")
    parser.add_argument("--hgvae", type=Path, default=MODELS / "hgvae.pt", help="HG-VAE checkpoint (default: shipped)")
    parser.add_argument("--clip", type=Path, default=CLIP, help="clip to put gaps in and impute (default: shipped)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    return parser


def generate_take(args: argparse.Namespace) -> list[Path]:
    """The DRMM part: a take on the scripted course, rendered; returns the files written."""
    from motion.clip import Clip
    from motion.formats import write_joint_csv
    from motion.layout import SegmentLayout
    from motion.models.drmm import DRMM
    from motion.skeleton import Skeleton, preset_roles
    from playback.flags import COURSE, parse_flags
    from playback.loop import Playback, PlaybackConfig
    from playback.metrics import motion_metrics, steering_metrics
    from playback.render import RenderConfig, Renderer, write_video

    model, payload = DRMM.load(args.drmm)
    skeleton = Skeleton.from_dict(payload["skeleton"])
    roles = preset_roles(skeleton.name)
    print(f"1/2 generating a {args.seconds:g} s take toward flags at {COURSE} with {args.drmm}", flush=True)
    playback = Playback(model, SegmentLayout.from_dict(payload["layout"]), skeleton, roles, payload["fps"],
                        PlaybackConfig(), args.seed)  # fmt: skip
    with torch.no_grad():
        take = playback.run(args.seconds, parse_flags(COURSE), progress=True)
    figures = steering_metrics(take.positions, take.flags, take.reached, take.fps, roles)
    figures |= motion_metrics(take.positions, take.fps, skeleton)
    decision_ms = 1000 * take.seconds_generating / max(len(take.decisions), 1)

    renderer = Renderer(skeleton, RenderConfig())
    video, positions = args.out / "demo.mp4", args.out / "demo-take.csv"
    write_video(renderer.frames(take.positions, take.fps, take.flags, progress=True), video, renderer.config.fps)
    write_joint_csv(Clip(take.positions, skeleton, take.fps, str(args.drmm), "demo"), str(positions))
    print(
        f"    {len(take.reached)} flags reached ({figures['flags_per_minute']:.0f}/min), facing error "
        f"{figures['facing_error_deg']:.1f}°, foot skating {figures['foot_skating_m_s']:.3f} m/s, "
        f"bone-length CV {figures['bone_length_cv_percent']:.2f} %, jerk {figures['jerk_m_s3']:.0f} m/s³, "
        f"{decision_ms:.0f} ms per decision"
    )
    return [video, positions]


def gap_mask(frames: int, joints: int, seed: int) -> np.ndarray:
    """(frames, joints, 3) bool: in each 50-frame stretch one to three joints lost over 10-40 frames,
    plus 2 % of the remaining values lost one by one."""
    from motion.gaps import random_mask, span_mask

    generator = torch.Generator().manual_seed(seed)
    stretches = -(-frames // GAP_WINDOW)
    spans = span_mask((stretches, GAP_WINDOW, joints, 3), generator).reshape(-1, joints, 3)[:frames]
    return (spans | random_mask((frames, joints, 3), SCATTERED, generator)).numpy()


def impute_gaps(args: argparse.Namespace) -> list[Path]:
    """The HG-VAE part: gaps in a shipped clip, filled; returns the files written."""
    from motion.formats import read_clips, write_joint_csv
    from motion.gaps import interpolate_gaps
    from motion.impute import impute_clip, label_index
    from motion.models.hgvae import HGVAE
    from motion.skeleton import Skeleton, resolve_joint_map

    model, payload = HGVAE.load(args.hgvae)
    skeleton = Skeleton.from_dict(payload["skeleton"])
    clips = read_clips([args.clip])
    if len(clips) != 1:
        raise InputError(f"{args.clip}: holds {len(clips)} clips; the demo imputes one")
    clip = clips[0]
    clip = clip.remap(resolve_joint_map(clip.skeleton, skeleton.name, None, clip.source))
    missing = gap_mask(clip.frames, len(skeleton), args.seed)
    gapped = replace(clip, positions=np.where(missing, np.nan, clip.positions).astype(np.float32))
    print(
        f"2/2 imputing {missing.sum():,} of {missing.size:,} values ({missing.mean():.1%}) taken out of "
        f"{args.clip.name} ({clip.duration:.1f} s) with {args.hgvae}",
        flush=True,
    )
    label = label_index(clip.labels.get("content"), payload, clip)
    result = impute_clip(model, payload, gapped, missing, label)
    truth, hole = torch.from_numpy(clip.positions), torch.from_numpy(missing)
    flat = torch.from_numpy(gapped.positions).reshape(clip.frames, -1)
    linear = interpolate_gaps(torch.nan_to_num(flat), hole.reshape(flat.shape)).reshape(truth.shape)
    ours, baseline = errors(torch.from_numpy(result.positions), truth, hole), errors(linear, truth, hole)

    gaps, imputed = args.out / "demo-gaps.csv", args.out / "demo-imputed.csv"
    write_joint_csv(gapped, str(gaps))
    write_joint_csv(replace(clip, positions=result.positions), str(imputed))
    print(
        f"    HG-VAE: error of the filled values {ours['mpjpe_mm']:.1f} mm per joint (MSE {ours['mse_cm2']:.2f} cm²); "
        f"linear interpolation: {baseline['mpjpe_mm']:.1f} mm (MSE {baseline['mse_cm2']:.2f} cm²); "
        f"ELBO per window {result.elbo_before:,.0f} before, {result.elbo_after:,.0f} after"
    )
    return [gaps, imputed]


def run(args: argparse.Namespace) -> int:
    if args.seconds <= 0:
        raise InputError("--seconds must be > 0")
    for path in (args.drmm, args.hgvae, args.clip):
        if not path.is_file():
            raise InputError(f"{path}: no such file")
    started = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    written = generate_take(args) + impute_gaps(args)
    print(f"done in {time.perf_counter() - started:.0f} s; wrote " + ", ".join(str(path) for path in written))
    print(f"watch {written[0]}; `motion render {written[-1]} --out out/imputed.mp4` renders the filled clip")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_guarded(run, build_parser().parse_args(argv), "interrupted")


if __name__ == "__main__":
    sys.exit(main())
