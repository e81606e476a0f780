"""What the shipped models do, on a fresh machine with no data and no GPU (`motion demo`).

1. The shipped DRMM generates a take on the scripted course of flags, rendered to OUT/demo.mp4
   (positions in OUT/demo-take.csv), with its steering and motion figures.
2. The shipped HG-VAE imputes a shipped Bandai clip with artificial gaps (joints lost over spans
   of 10-40 frames, as markers drop out, plus scattered values): the clip with its gaps is
   written to OUT/demo-gaps.csv, the filled clip to OUT/demo-imputed.csv, and the error of
   the filled values is compared with linear interpolation.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from evaluation.imputation import SCATTERED, errors
from motion.assets import CLIPS
from motion.clip import Clip
from motion.errors import InputError
from motion.formats import read_clips, write_joint_csv
from motion.gaps import random_mask, span_mask
from motion.impute import fill_clip, impute_clip
from motion.models import DRMM, HGVAE
from motion.skeleton import resolve_joint_map
from playback.flags import COURSE, parse_flags
from playback.loop import Playback
from playback.render import RenderConfig, Renderer, write_video

CLIP = CLIPS / "bandai" / "data" / "dataset-2_walk-turn-left_normal_027.bvh"
"""The shipped clip the demo puts gaps in."""
GAP_WINDOW = 50  # frames per stretch of the clip that loses one to three joints over a span


@dataclass(frozen=True)
class DemoTake:
    """The generated take: its figures (Playback.figures), and the video and positions written."""

    figures: dict[str, float]
    flags_reached: int
    video: Path
    positions: Path


@dataclass(frozen=True)
class DemoImputation:
    """The imputed clip: values taken out, the errors of the HG-VAE's fill, of linear interpolation and
    of the donor fill (evaluation.imputation.errors), the ELBO per window before and after, the share of
    the model's departure its probe kept (ClipImputation.model_weight), the files written."""

    missing: int
    values: int
    seconds: float
    hgvae: dict[str, float]
    linear: dict[str, float]
    donor: dict[str, float]
    elbo_before: float
    elbo_after: float
    model_weight: float
    gaps: Path
    imputed: Path


def generate_take(drmm: str | Path, out: Path, seconds: float, seed: int = 0, progress: bool = True) -> DemoTake:
    """The DRMM part: a take on the scripted course with default playback, rendered into `out`."""
    playback = Playback(DRMM.load(drmm), seed=seed)
    with torch.no_grad():
        take = playback.run(seconds, parse_flags(COURSE), progress=progress)
    figures = playback.figures(take)
    renderer = Renderer(playback.skeleton, RenderConfig())
    video, positions = out / "demo.mp4", out / "demo-take.csv"
    write_video(renderer.frames(take.positions, take.fps, take.flags, progress=progress), video, renderer.config.fps)
    write_joint_csv(Clip(take.positions, playback.skeleton, take.fps, str(drmm), "demo"), positions)
    return DemoTake(figures, len(take.reached), video, positions)


def gap_mask(frames: int, joints: int, seed: int) -> np.ndarray:
    """(frames, joints, 3) bool: in each 50-frame stretch one to three joints lost over 10-40 frames,
    plus 2 % of the remaining values lost one by one."""
    generator = torch.Generator().manual_seed(seed)
    stretches = -(-frames // GAP_WINDOW)
    spans = span_mask((stretches, GAP_WINDOW, joints, 3), generator).reshape(-1, joints, 3)[:frames]
    return (spans | random_mask((frames, joints, 3), SCATTERED, generator)).numpy()


def impute_gaps(hgvae: str | Path, out: Path, clip_path: str | Path = CLIP, seed: int = 0) -> DemoImputation:
    """The HG-VAE part: gaps made in a clip, filled, and measured against the truth and linear interpolation."""
    model = HGVAE.load(hgvae)
    clips = read_clips(clip_path)
    if len(clips) != 1:
        raise InputError(f"{clip_path}: holds {len(clips)} clips; the demo imputes one")
    clip = clips[0]
    clip = clip.remap(resolve_joint_map(clip.skeleton, model.metadata.skeleton.name, None, clip.source))
    missing = gap_mask(clip.frames, len(clip.skeleton), seed)
    gapped = replace(clip, positions=np.where(missing, np.nan, clip.positions).astype(np.float32))
    result = impute_clip(model, gapped, missing)
    truth, hole = torch.from_numpy(clip.positions), torch.from_numpy(missing)
    linear, donor = (torch.from_numpy(fill_clip(gapped, missing, name).positions) for name in ("linear", "donor"))
    gaps, imputed = out / "demo-gaps.csv", out / "demo-imputed.csv"
    write_joint_csv(gapped, gaps)
    write_joint_csv(replace(clip, positions=result.positions), imputed)
    return DemoImputation(
        missing=int(missing.sum()),
        values=missing.size,
        seconds=clip.duration,
        hgvae=errors(torch.from_numpy(result.positions), truth, hole),
        linear=errors(linear, truth, hole),
        donor=errors(donor, truth, hole),
        elbo_before=result.elbo_before,
        elbo_after=result.elbo_after,
        model_weight=result.model_weight,
        gaps=gaps,
        imputed=imputed,
    )
