"""Benchmark BVH export: accuracy on every clip of the shared Bandai archive, conversion speed of a 60 s
clip, and Blender's own importer on the written files.

Accuracy: each clip is exported on its own skeleton (its median bone lengths in a T-pose, the
default of `motion export`) and on the rig of its own file (`--like` itself); the written text is
read back by our BVH reader and compared joint by joint with the clip. Per content: the mean and
the largest per-joint error, and the largest turn of any bone between consecutive frames.
Speed: a 60 s clip (real clips end to end) from positions to BVH text, on its own skeleton, onto
lafan1 and on its file's rig; the median of 5 runs after a warm-up.
Generated: takes of the shipped DRMM exported on their own skeleton, the same figures.
Blender (when a Python with bpy is found: evaluation.blender): one clip per content imported by
bpy.ops.import_anim.bvh, its bones' world positions against the clip's, and the import time.
Usage: python benchmarks/bvh_export.py [--clips-per-content N] [--seconds 60] [--seeds 4] [--parts ...]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the playback package, not benchmarks/playback.py
from common import BANDAI_ZIP, machine

from evaluation.blender import blender_positions, blender_python
from motion.assets import DRMM_MODEL
from motion.clip import Clip
from motion.formats import list_sources, read_source
from motion.formats.bvh import bvh_text, read_bvh, read_bvh_file
from motion.joint_rotations import Animation
from motion.retarget import clip_to_animation
from motion.rig import preset_rig
from motion.rotations import rotation_angle
from playback.loop import Playback, PlaybackConfig

RUNS = 5
PARTS = ("accuracy", "speed", "generated", "blender")


def largest_turn(animation: Animation) -> float:
    world = animation.world_rotations()
    return float(torch.rad2deg(rotation_angle(world[1:].transpose(-1, -2) @ world[:-1])).max())


def errors(text: str, clip: Clip) -> np.ndarray:
    back = read_bvh(text, "written.bvh", "written")
    index = [back.skeleton.index(joint) for joint in clip.skeleton.joints]
    return np.linalg.norm(back.positions[:, index] - clip.positions, axis=-1)


def content_of(name: str) -> str:
    return name.split("dataset-2_", 1)[1].split("_")[0]


def accuracy(per_content: int | None) -> dict[str, list[tuple[Clip, str]]]:
    chosen: dict[str, list] = defaultdict(list)
    for source in list_sources([BANDAI_ZIP]):
        content = content_of(source.name)
        if per_content is None or len(chosen[content]) < per_content:
            chosen[content].append(source)
    print(
        f"{'content':22s} {'clips':>5s} {'own: mean mm':>12s} {'max mm':>7s} {'like: max mm':>12s} {'max turn deg':>12s}"
    )
    examples = {}
    for content, sources in sorted(chosen.items()):
        own_mean, own_max, like_max, turn = [], 0.0, 0.0, 0.0
        for source in sources:
            text = source.read().decode()
            file = read_bvh_file(text, source.name, source.stem)
            clip = file.clip
            animation = clip_to_animation(clip)
            error = errors(bvh_text(animation), clip)
            own_mean.append(error.mean())
            own_max = max(own_max, float(error.max()))
            like = clip_to_animation(clip, file.rig)
            like_max = max(like_max, float(errors(bvh_text(like), clip).max()))
            turn = max(turn, largest_turn(animation), largest_turn(like))
        examples[content] = sources[0]
        print(
            f"{content:22s} {len(sources):5d} {np.mean(own_mean) * 1000:12.3f} {own_max * 1000:7.2f} "
            f"{like_max * 1000:12.4f} {turn:12.1f}"
        )
    return examples


def long_clip(seconds: float) -> tuple[Clip, object]:
    """Real clips end to end, each moved on the ground to continue where the last one stopped."""
    ground = np.array([1, 1, 0], np.float32)
    parts, frames, end, first = [], 0, np.zeros(3, np.float32), None
    for source in list_sources([BANDAI_ZIP]):
        if "_walk_" not in source.name:
            continue
        file = read_bvh_file(source.read().decode(), source.name, source.stem)
        clip = file.clip
        first = first or file
        hips = clip.skeleton.index("Hips")
        moved = clip.positions + (end - clip.positions[0, hips] * ground)
        moved[:, 0] = moved[:, hips] * ground  # the ground point under the hips
        parts.append(moved)
        end = parts[-1][-1, hips] * ground
        frames += clip.frames
        if frames >= seconds * clip.fps:
            break
    positions = np.concatenate(parts)[: int(seconds * first.clip.fps)]
    return replace(first.clip, positions=positions, name="long"), first


def speed(seconds: float) -> None:
    clip, file = long_clip(seconds)
    print(
        f"\nspeed: a {clip.frames / clip.fps:.0f} s clip ({clip.frames} frames, {len(clip.skeleton)} joints), median of {RUNS}"
    )
    for label, rig in (("own skeleton", None), ("onto lafan1", preset_rig("lafan1")), ("--like its file", file.rig)):
        bvh_text(clip_to_animation(clip, rig))  # warm-up
        solve, write = [], []
        for _ in range(RUNS):
            began = time.perf_counter()
            animation = clip_to_animation(clip, rig)
            solved = time.perf_counter()
            bvh_text(animation)
            solve.append(solved - began)
            write.append(time.perf_counter() - solved)
        total = statistics.median(s + w for s, w in zip(solve, write))
        print(
            f"  {label:16s} rotations {statistics.median(solve) * 1000:6.0f} ms, text {statistics.median(write) * 1000:5.0f} ms,"
            f" total {total:.2f} s ({clip.frames / clip.fps / total:.0f}x real time)"
        )


def generated(seeds: int, seconds: float) -> None:
    """Takes of the shipped DRMM (laforge20), exported on their own skeleton."""
    print(f"\ngenerated: {seeds} takes of {seconds:g} s by the shipped DRMM, on their own skeleton")
    for seed in range(seeds):
        playback = Playback.from_checkpoint(DRMM_MODEL, PlaybackConfig(), seed=seed)
        with torch.no_grad():
            take = playback.run(seconds)
        clip = Clip(take.positions, playback.skeleton, take.fps, "generated", f"seed{seed}")
        animation = clip_to_animation(clip)
        error = errors(bvh_text(animation), clip)
        print(
            f"  seed {seed}: {error.mean() * 1000:.2f} mm mean, {error.max() * 1000:.1f} mm at most, "
            f"largest turn {largest_turn(animation):.1f} deg"
        )


def blender(examples: dict) -> None:
    python = blender_python()
    if python is None:
        print("\nBlender: no Python with bpy (pip install bpy, or set MOTION_BLENDER_PYTHON); skipped")
        return
    print("\nBlender (a Python with bpy): bpy.ops.import_anim.bvh of our files, joints against the clip's")
    with tempfile.TemporaryDirectory() as folder:
        for content, source in sorted(examples.items()):
            clip = read_source(source)[0]
            path = Path(folder) / f"{content}.bvh"
            path.write_text(bvh_text(clip_to_animation(clip)))
            began = time.perf_counter()
            names, positions = blender_positions(path, python)
            took = time.perf_counter() - began
            index = [names.index(joint) for joint in clip.skeleton.joints]
            rms = np.sqrt(((positions[:, index] - clip.positions) ** 2).sum(-1).mean())
            print(f"  {content:22s} {clip.frames:4d} frames: rms {rms * 1000:.4f} mm, import and read-out {took:.2f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips-per-content", type=int, help="clips per content (default: every clip)")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the speed clip")
    parser.add_argument("--seeds", type=int, default=4, help="generated takes (20 s each)")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"which parts to run, of {', '.join(PARTS)}")
    args = parser.parse_args()
    parts = args.parts.split(",")
    if not BANDAI_ZIP.is_file():
        print(f"needs the shared Bandai archive at {BANDAI_ZIP}", file=sys.stderr)
        return 1
    print(machine())
    examples = accuracy(args.clips_per_content if "accuracy" in parts else 1)
    if "speed" in parts:
        speed(args.seconds)
    if "generated" in parts:
        generated(args.seeds, 20.0)
    if "blender" in parts:
        blender(examples)
    return 0


if __name__ == "__main__":
    sys.exit(main())
