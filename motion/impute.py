"""Filling occluded joint positions in clips with a trained HG-VAE, and `motion impute`.

A clip of any length is resampled to the model's rate, cut into overlapping windows (each
normalised at its first frame, as the training windows were), imputed window by window by MAP
(HGVAE.impute) and blended back with weights that fall to zero at the window edges. Missing
entries at the clip's own frames are read off the blended trajectories; observed entries are
never touched. Output files keep the input's format: CSV cells that were observed keep their
original text.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from motion.atomic import atomic_path
from motion.cli import run_guarded
from motion.clip import Clip, resample
from motion.conventions import UNIT_SCALE
from motion.errors import InputError
from motion.formats import add_read_arguments, detect_format, read_options, read_source, write_joint_csv
from motion.formats.joint_csv import AXES
from motion.formats.sources import list_sources
from motion.gaps import interpolate_gaps
from motion.geometry import facing_direction, from_local_frame, to_local_frame
from motion.models.hgvae import HGVAE, MAP_LR
from motion.skeleton import Skeleton, preset_roles, resolve_joint_map

_LAFORGE_CELL = re.compile(r"^(\s*\()([^()]*)(\)\s*\([^()]*\)\s*)$")


@dataclass(frozen=True)
class ClipImputation:
    """The result of imputing one clip.

    Attributes:
        positions: (frames, joints, 3) float32 metres, Z-up, on the clip's skeleton: observed
            entries as given, missing entries on the model's joints filled, others still NaN.
        filled: (frames, joints, 3) bool, the entries that were filled.
        uncovered: missing values on joints the model does not have (left NaN).
        windows: windows imputed.
        elbo_before, elbo_after: mean ELBO per window of the starting fill and of the result, nats.
    """

    positions: np.ndarray
    filled: np.ndarray
    uncovered: int
    windows: int
    elbo_before: float
    elbo_after: float


def window_starts(frames: int, length: int, stride: int) -> list[int]:
    """First frames of overlapping windows covering `frames` frames (the last one ends at the end)."""
    if frames <= length:
        return [0]
    starts = list(range(0, frames - length + 1, stride))
    if starts[-1] != frames - length:
        starts.append(frames - length)
    return starts


def blend_weights(length: int) -> np.ndarray:
    """(length,) weights for overlap-adding windows: sin^2, highest mid-window, small at the edges."""
    return (np.sin(np.pi * (np.arange(length) + 0.5) / length) ** 2).astype(np.float32)


def impute_clip(
    model: HGVAE,
    payload: dict,
    clip: Clip,
    missing: np.ndarray,
    label: int | None = None,
    steps: int = 10,
    lr: float = MAP_LR,
    start: str = "interpolate",
    stride: int | None = None,
    joint_map: str | Path | None = None,
) -> ClipImputation:
    """Fill a clip's missing entries with the HG-VAE's MAP estimate.

    Args:
        model: a trained HG-VAE.
        payload: its checkpoint (skeleton, fps).
        clip: the clip; values at missing entries are ignored.
        missing: (frames, joints, 3) bool on the clip's skeleton, True where occluded.
        label: class index for a class-conditional model.
        steps, lr, start: as in HGVAE.impute.
        stride: frames between window starts at the model's rate (default: half a window).
        joint_map: JSON joint map for a clip whose skeleton is no preset (as in `motion preprocess`).
    Raises:
        InputError: the skeleton cannot be mapped to the model's, or the root or a shoulder is
            never observed (windows could not be placed).
    """
    skeleton = Skeleton.from_dict(payload["skeleton"])
    fps, frames = float(payload["fps"]), model.config.frames
    indices = resolve_joint_map(clip.skeleton, skeleton.name, joint_map, clip.source).indices(
        clip.skeleton, clip.source
    )
    covered = np.zeros(len(clip.skeleton), dtype=bool)
    covered[indices] = True
    hole = missing[:, indices]
    positions = np.where(hole, np.nan, clip.positions[:, indices]).astype(np.float32)
    # The search starts from each gap interpolated over the whole clip at its own rate: a window
    # alone would hold values flat where a gap crosses its edge.
    flat = torch.from_numpy(positions).reshape(clip.frames, -1)
    guide = interpolate_gaps(torch.nan_to_num(flat), torch.isnan(flat)).reshape(positions.shape)
    at_rate = torch.from_numpy(resample(positions, clip.fps, fps).copy())
    guide = torch.from_numpy(resample(guide.numpy(), clip.fps, fps).copy())
    hole_at_rate = torch.isnan(at_rate)
    # Turning windows to face +x mixes x and y: a point missing either is missing both there.
    hole_at_rate[..., :2] = hole_at_rate[..., :2].any(-1, keepdim=True)
    count = at_rate.shape[0]
    if count < frames:  # pad with frames to be imputed, dropped afterwards
        pad = torch.ones((frames - count, *at_rate.shape[1:]), dtype=torch.bool)
        guide, hole_at_rate = torch.cat([guide, guide[-1:].expand(pad.shape)]), torch.cat([hole_at_rate, pad])

    roles = preset_roles(skeleton.name)
    for role in ("root", "left_shoulder", "right_shoulder"):
        if hole_at_rate[:, roles[role]].all():
            raise InputError(f"{clip.source}: joint {skeleton.joints[roles[role]]!r} ({role}) is never observed")

    starts = window_starts(len(guide), frames, stride or frames // 2)
    span = torch.tensor(starts)[:, None] + torch.arange(frames)
    first_frames = guide[torch.tensor(starts)]
    origin = first_frames[:, roles["root"]]
    facing = facing_direction(first_frames[:, roles["left_shoulder"]], first_frames[:, roles["right_shoulder"]])
    windows = to_local_frame(guide[span].reshape(len(starts), -1, 3), origin, facing).reshape(guide[span].shape)
    never_seen = hole_at_rate.all(0)  # coordinates with nothing to interpolate start at the training mean
    windows = torch.where(never_seen, model.data_mean.cpu().reshape(model.window_shape), windows)
    labels = None if label is None else torch.full((len(starts),), label)
    device = model.data_mean.device
    search_start = "given" if start == "interpolate" else start
    result = model.impute(
        windows.to(device), hole_at_rate[span].to(device), labels, steps=steps, lr=lr, start=search_start
    )
    restored = from_local_frame(result.windows.cpu().reshape(len(starts), -1, 3), origin, facing)

    weights = torch.from_numpy(blend_weights(frames))[:, None, None]
    total = torch.zeros_like(guide)
    weight_sum = torch.zeros(len(guide), 1, 1)
    for window, first in zip(restored.reshape(windows.shape), starts, strict=True):
        total[first : first + frames] += weights * window
        weight_sum[first : first + frames] += weights
    blended = (total / weight_sum)[:count].numpy()

    # Back to the clip's frames: each missing entry is read off the blended trajectory.
    at = np.minimum(np.arange(clip.frames) * fps / clip.fps, count - 1)
    before = np.minimum(np.floor(at).astype(np.int64), max(count - 2, 0))
    after = np.minimum(before + 1, count - 1)
    weight = (at - before).astype(np.float32)[:, None, None]
    estimate = blended[before] * (1 - weight) + blended[after] * weight
    out = clip.positions.copy()
    sub = out[:, indices]
    sub[hole] = estimate[hole]
    out[:, indices] = sub
    filled = np.zeros_like(missing)
    filled[:, indices] = hole
    return ClipImputation(
        positions=out,
        filled=filled,
        uncovered=int(missing[:, ~covered].sum()),
        windows=len(starts),
        elbo_before=result.elbo_before.mean().item(),
        elbo_after=result.elbo_after.mean().item(),
    )


# Files ----------------------------------------------------------------------------------------


def read_mask(path: Path, frames: int, skeleton: Skeleton) -> np.ndarray:
    """An explicit occlusion mask, (frames, joints, 3) bool, True where occluded.

    Formats: `.npy` holding a (frames, joints) or (frames, joints, 3) array of bools or 0/1 in
    the file's joint order; or a CSV with a header of joint names (any subset) and one row of
    0/1 per frame.
    """
    if not path.is_file():
        raise InputError(f"{path}: no such mask file")
    if path.suffix.lower() == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as err:
            raise InputError(f"{path}: not a readable .npy array ({err})") from None
        if array.ndim == 2:
            array = np.repeat(array[:, :, None], 3, axis=2)
        if array.shape != (frames, len(skeleton), 3):
            raise InputError(f"{path}: mask of shape {array.shape}; the clip needs ({frames}, {len(skeleton)}[, 3])")
        if not np.isin(array, (0, 1)).all():
            raise InputError(f"{path}: mask values must be 0/1 or booleans")
        return array.astype(bool)
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    if not lines:
        raise InputError(f"{path}: empty mask file")
    header = [name.strip() for name in lines[0].split(",")]
    joints = [skeleton.index(name) for name in header]
    if len(lines) - 1 != frames:
        raise InputError(f"{path}: {len(lines) - 1} mask rows; the clip has {frames} frames")
    mask = np.zeros((frames, len(skeleton), 3), dtype=bool)
    for row, line in enumerate(lines[1:], start=2):
        cells = [cell.strip() for cell in line.split(",")]
        if len(cells) != len(header) or any(cell not in ("0", "1") for cell in cells):
            raise InputError(f"{path}:{row}: expected {len(header)} cells of 0 or 1")
        mask[row - 2, joints] = np.array(cells) == "1"
    return mask


def _file_coordinates(positions: np.ndarray, up: str, units: str) -> np.ndarray:
    """Canonical (metres, Z-up) positions in a joint CSV's own axes and units."""
    values = positions[..., [0, 2, 1]] * np.array([1, 1, -1], np.float32) if up == "y" else positions
    return values / np.float32(UNIT_SCALE[units])


def write_joint_csv_filled(text: str, clip: Clip, result: ClipImputation, up: str, units: str, path: Path) -> None:
    """The input joint CSV with its missing cells filled; every other cell keeps its text."""
    lines = text.splitlines()
    header = [title.strip() for title in lines[0].split(",")]
    column = {title: i for i, title in enumerate(header)}
    values = _file_coordinates(result.positions, up, units)
    frame = 0
    for number in range(1, len(lines)):
        if not lines[number].strip():
            continue
        cells = lines[number].split(",")
        for joint, axis in zip(*np.nonzero(result.filled[frame]), strict=True):
            cells[column[f"{clip.skeleton.joints[joint]}_{AXES[axis]}"]] = f"{values[frame, joint, axis]:.9g}"
        lines[number] = ",".join(cells)
        frame += 1
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n")


def write_laforge_filled(text: str, results: list[ClipImputation], units: str, path: Path) -> None:
    """The input LaForge CSV with the filled positions written into their cells (Unity axes);
    every other number keeps its text."""
    filled = np.concatenate([r.filled for r in results])
    unity = np.concatenate([r.positions for r in results])[..., [0, 2, 1]] / np.float32(UNIT_SCALE[units])
    lines = text.splitlines()
    frame = 0
    for number, line in enumerate(lines):
        if not line.strip():
            continue
        if filled[frame].any():
            cells = line.split(";")
            for joint in np.flatnonzero(filled[frame].any(-1)):
                head, numbers, tail = _LAFORGE_CELL.match(cells[1 + joint]).groups()
                parts = numbers.split(",")
                for axis in np.flatnonzero(filled[frame, joint]):
                    parts[axis] = (" " if axis else "") + f"{unity[frame, joint, axis]:.9g}"
                cells[1 + joint] = head + ",".join(parts) + tail
            lines[number] = ";".join(cells)
        frame += 1
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n")


# Command --------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="motion impute",
        description="Fill occluded joint positions in a clip with a trained HG-VAE (MAP imputation). "
        "Occlusions are empty or NaN cells, or given by --mask. The output keeps the input's format "
        "(BVH input, which stores rotations, is written as joint CSV) and every observed value.",
    )
    parser.add_argument("input", type=Path, help="a motion file: joint CSV, LaForge CSV or BVH")
    parser.add_argument("--model", required=True, type=Path, help="HG-VAE checkpoint (motion train hgvae)")
    parser.add_argument("--out", required=True, type=Path, help="output file")
    parser.add_argument(
        "--mask", type=Path, help="occlusion mask: .npy (frames, joints[, 3]) or CSV of 0/1 per joint and frame"
    )
    parser.add_argument("--steps", type=int, default=10, help="Adam steps of the MAP search")
    parser.add_argument(
        "--lr",
        type=float,
        default=MAP_LR,
        help="Adam learning rate, standard deviations of each entry per step (default %(default)g)",
    )
    parser.add_argument(
        "--start", choices=("interpolate", "mean"), default="interpolate", help="where the search starts"
    )
    parser.add_argument("--joint-map", help="JSON joint map for a skeleton that is no preset (see motion preprocess)")
    parser.add_argument("--label", help="content label for a class-conditional model (default: the clip's own)")
    add_read_arguments(parser)
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cuda")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    return parser


def run(args: argparse.Namespace) -> int:
    if args.steps < 0 or args.lr <= 0:
        raise InputError("--steps must be >= 0 and --lr > 0")
    if args.out.resolve() == args.input.resolve():
        raise InputError(f"{args.out}: would overwrite the input; choose another --out")
    options = read_options(args)
    sources = list_sources([args.input])
    if len(sources) != 1:
        raise InputError(f"{args.input}: holds {len(sources)} motion files; give one")
    source = sources[0]
    kind = options.format or detect_format(source.name, source.read()[:4096])
    if kind == "bvh" and args.out.suffix.lower() != ".csv":
        raise InputError(f"{args.out}: BVH stores rotations; write the imputed positions to a .csv (joint CSV)")
    clips = read_source(source, options)
    model, payload = HGVAE.load(args.model, device=args.device)
    frames = sum(clip.frames for clip in clips)
    mask = (
        read_mask(args.mask, frames, clips[0].skeleton)
        if args.mask
        else np.zeros((frames, len(clips[0].skeleton), 3), bool)
    )

    results = []
    first = 0
    for clip in clips:
        missing = np.isnan(clip.positions) | mask[first : first + clip.frames]
        first += clip.frames
        label = label_index(args.label or clip.labels.get("content"), payload, clip)
        if missing.any():
            results.append(
                impute_clip(
                    model, payload, clip, missing, label, args.steps, args.lr, args.start, joint_map=args.joint_map
                )
            )
        else:
            results.append(ClipImputation(clip.positions, missing, 0, 0, float("nan"), float("nan")))

    text = source.read().decode("utf-8")
    if kind == "joints":
        write_joint_csv_filled(text, clips[0], results[0], options.up or "z", options.units or "m", args.out)
    elif kind == "laforge":
        write_laforge_filled(text, results, options.units or "m", args.out)
    else:
        write_joint_csv(replace(clips[0], positions=results[0].positions), args.out)

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


def label_index(name: str | None, payload: dict, clip: Clip) -> int | None:
    """The class index of content label `name` for a class-conditional model, None for another model."""
    names = payload.get("labels") or []
    if not names:
        return None
    if name is None:
        raise InputError(f"{clip.source}: the model is class-conditional; pass --label (one of {', '.join(names)})")
    if name not in names:
        raise InputError(f"--label {name!r}: the model knows {', '.join(names)}")
    return names.index(name)


def main(argv: list[str] | None = None) -> int:
    return run_guarded(run, build_parser().parse_args(argv), "interrupted")


if __name__ == "__main__":
    sys.exit(main())
