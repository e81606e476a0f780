"""Benchmark `motion impute` speed: one 60 s clip at 30 fps, with 1-3 joints lost for 2 s every 5 s
(longer than the HG-VAE's fallback, so the model fills them) and 2 % of the other values scattered,
filled by each method; then the folder job's throughput over test clips with such gaps.

The long clip is real motion: test clips of the shared Bandai archive placed end to end, each moved
on the ground to start where the previous one ended. Prints the machine and the median wall time of
3 runs after a warm-up, per method, start-up (model loading) excluded; for the folder job
(preprocessing.impute_files on every core, scores on), the median of 3 runs of files and seconds of
motion per second, start-up included.
Usage: python benchmarks/impute.py [--model CKPT] [--seconds 60] [--files 40]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from common import BANDAI_ZIP, machine

from evaluation.gap_filling import split_clips
from motion.assets import HGVAE_MODEL
from motion.clip import Clip
from motion.formats import write_joint_csv
from motion.impute import METHODS, fill_clip, impute_clip
from motion.models import HGVAE
from preprocessing import ImputeConfig, impute_files

GAP_SECONDS = 2.0  # each lost joint's gap: longer than the fallback, so the HG-VAE fills it


def long_clip(seconds: float) -> Clip:
    """Test clips end to end, each shifted on the ground to continue where the last one stopped."""
    clips = split_clips([BANDAI_ZIP], ["test"], "laforge20", ("walk", "walk-turn-left", "walk-turn-right", "run"))
    parts, frames, end = [], 0, np.zeros(3, np.float32)
    for clip in clips:
        shift = end - clip.positions[0, 0] * np.array([1, 1, 0], np.float32)
        parts.append(clip.positions + shift)
        end = parts[-1][-1, 0] * np.array([1, 1, 0], np.float32)
        frames += clip.frames
        if frames >= seconds * clip.fps:
            break
    positions = np.concatenate(parts)[: int(seconds * clips[0].fps)]
    return replace(clips[0], positions=positions, name="long", source="benchmark")


def gaps(clip: Clip, generator: np.random.Generator) -> np.ndarray:
    mask = generator.random(clip.positions.shape) < 0.02
    length = int(GAP_SECONDS * clip.fps)
    for first in range(15, clip.frames - length, int(5 * clip.fps)):  # every 5 s, 1-3 joints
        joints = generator.permutation(len(clip.skeleton))[: generator.integers(1, 4)]
        mask[first : first + length, joints] = True
    return mask


def folder_job(files: int, model: str, workers: int) -> None:
    """Files per second of the folder job, kinematic and HG-VAE, on test clips with gaps written as joint CSV."""
    clips = split_clips([BANDAI_ZIP], ["test"], "laforge20")[:files]
    with tempfile.TemporaryDirectory() as folder:
        inputs = Path(folder) / "in"
        inputs.mkdir()
        generator = np.random.default_rng(1)
        for clip in clips:
            mask = gaps(clip, generator)
            write_joint_csv(
                replace(clip, positions=np.where(mask, np.nan, clip.positions)), inputs / f"{clip.name}.csv"
            )
        seconds = sum(clip.duration for clip in clips)
        for method in ("kinematic", "donor", "hgvae"):
            config = ImputeConfig(method=method, model=model)
            times = []
            for _ in range(3):
                started = time.perf_counter()
                summary = impute_files(
                    [inputs], Path(folder) / "out", config, workers=workers, overwrite=True, progress=False
                )
                times.append(time.perf_counter() - started)
            wall = statistics.median(times)
            print(
                f"  folder job, {method:<10} {len(clips) / wall:6.1f} files/s, {seconds / wall:6.0f} s of motion/s "
                f"({len(clips)} files, {seconds:.0f} s, {summary.filled:,} values, {workers} workers; median of 3)"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=HGVAE_MODEL, help="HG-VAE checkpoint")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the clip")
    parser.add_argument("--files", type=int, default=40, help="test clips in the folder job")
    args = parser.parse_args(argv)
    if not BANDAI_ZIP.is_file():
        print(f"needs {BANDAI_ZIP} (see ../shared/data/README.md)", file=sys.stderr)
        return 2
    print(f"machine: {machine()}")
    clip = long_clip(args.seconds)
    mask = gaps(clip, np.random.default_rng(0))
    gappy = replace(clip, positions=np.where(mask, np.nan, clip.positions).astype(np.float32))
    model = HGVAE.load(args.model)
    print(f"{clip.duration:.0f} s clip, {clip.frames} frames, {mask.sum():,} values missing ({mask.mean():.1%})")
    for method in METHODS:

        def run(method: str = method):
            return impute_clip(model, gappy, mask) if method == "hgvae" else fill_clip(gappy, mask, method)

        run()  # warm-up
        times = []
        for _ in range(3):
            started = time.perf_counter()
            result = run()
            times.append(time.perf_counter() - started)
        error = np.sqrt(((result.positions - clip.positions)[mask] ** 2).mean()) * 100
        print(f"  {method:<10} {statistics.median(times):6.2f} s (median of 3), rms error {error:.2f} cm")
    folder_job(args.files, str(args.model), os.cpu_count() or 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
