"""Filling occluded joint positions in clips of any length with a trained HG-VAE: `impute_clip`,
and `impute_file` for a whole motion file, written back in its own format.

A clip is resampled to the model's rate, cut into overlapping windows (each normalised at its
first frame, as the training windows were: motion.encoding.normalise_windows), imputed window by
window by MAP (HGVAE.impute) and blended back with weights that fall to zero at the window edges.
Missing entries at the clip's own frames are read off the blended trajectories; observed entries
are never touched.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from motion.clip import Clip, resample
from motion.encoding import normalise_windows
from motion.errors import InputError
from motion.formats import (
    ReadOptions,
    detect_format,
    fill_joint_csv,
    fill_laforge_csv,
    list_sources,
    read_mask,
    read_source,
    write_joint_csv,
)
from motion.gaps import interpolate_gaps
from motion.geometry import from_local_frame
from motion.models.hgvae import HGVAE, MAP_LR
from motion.skeleton import preset_roles, resolve_joint_map


@dataclass(frozen=True)
class ClipImputation:
    """The result of imputing one clip.

    Attributes:
        positions: (frames, joints, 3) float32 metres, Z-up, on the clip's skeleton: observed
            entries as given, missing entries on the model's joints filled, others still NaN.
        filled: (frames, joints, 3) bool, the entries that were filled.
        uncovered: missing values on joints the model does not have (left NaN).
        windows: windows imputed (0 when nothing was missing).
        elbo_before, elbo_after: mean ELBO per window of the starting fill and of the result, nats
            (NaN when nothing was missing).
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
    clip: Clip,
    missing: np.ndarray | None = None,
    label: str | None = None,
    steps: int = 10,
    lr: float = MAP_LR,
    start: str = "interpolate",
    stride: int | None = None,
    joint_map: str | Path | None = None,
) -> ClipImputation:
    """Fill a clip's missing entries with the HG-VAE's MAP estimate.

    Args:
        model: a trained HG-VAE (HGVAE.load), whose metadata gives its skeleton, rate and labels.
        clip: the clip; values at missing entries are ignored.
        missing: (frames, joints, 3) bool on the clip's skeleton, True where occluded; None: the
            clip's NaN entries.
        label: content label for a class-conditional model (one of model.metadata.labels);
            None: the clip's own content label.
        steps, lr, start: as in HGVAE.impute ("interpolate" starts from each gap interpolated
            linearly over the whole clip, "mean" from the training mean).
        stride: frames between window starts at the model's rate (default: half a window).
        joint_map: JSON joint map for a clip whose skeleton is no preset (as in `motion preprocess`).
    Raises:
        InputError: the model describes no data, the label is missing or unknown, the skeleton
            cannot be mapped to the model's, or the root or a shoulder is never observed.
    """
    metadata = model.metadata
    if metadata is None:
        raise InputError("the HG-VAE's checkpoint names no skeleton or rate; train it with motion train hgvae")
    missing = np.isnan(clip.positions) if missing is None else missing
    if not missing.any():
        return ClipImputation(clip.positions, np.zeros_like(missing), 0, 0, float("nan"), float("nan"))
    skeleton, fps, frames = metadata.skeleton, metadata.fps, model.config.frames
    class_index = _class_index(model, clip, label)
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
    windows, origin, facing = normalise_windows(guide[span], roles)
    never_seen = hole_at_rate.all(0)  # coordinates with nothing to interpolate start at the training mean
    windows = torch.where(never_seen, model.data_mean.cpu().reshape(model.window_shape), windows)
    labels = None if class_index is None else torch.full((len(starts),), class_index)
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


def _class_index(model: HGVAE, clip: Clip, label: str | None) -> int | None:
    """The class index of `label` (default: the clip's content label) for a class-conditional model."""
    if not model.config.classes:
        return None
    name = label if label is not None else clip.labels.get("content")
    if name is None:
        known = ", ".join(model.metadata.labels)
        raise InputError(
            f"{clip.source}: the model is class-conditional; give its content label (--label): one of {known}"
        )
    return model.metadata.label_index(name)


def impute_file(
    model: HGVAE,
    path: str | Path,
    out: str | Path,
    mask: str | Path | None = None,
    options: ReadOptions = ReadOptions(),
    label: str | None = None,
    steps: int = 10,
    lr: float = MAP_LR,
    start: str = "interpolate",
    joint_map: str | Path | None = None,
) -> list[ClipImputation]:
    """Fill the occluded values of every clip (take) in a motion file and write the file in its own format.

    Occlusions are the empty or NaN values, plus those `mask` marks. A joint or LaForge CSV is
    written back with only its missing cells filled, every other cell keeping its text; BVH, which
    stores rotations, is written as a joint CSV (Z-up, metres), so `out` must end in .csv then.

    Args:
        model: a trained HG-VAE (HGVAE.load).
        path: the motion file.
        out: the output file (not `path`); written atomically.
        mask: an occlusion mask file (motion.formats.read_mask) in the file's joint order, over all
            its frames; None: only the empty cells.
        options: how to read the file (format, fps, up axis, units), as motion.formats reads it.
        label, steps, lr, start, joint_map: as in impute_clip.
    Returns:
        one ClipImputation per clip of the file.
    Raises:
        InputError: a bad file, mask, label or output path.
    """
    path, out = Path(path), Path(out)
    if steps < 0 or lr <= 0:
        raise InputError(f"steps must be >= 0 and lr > 0, got {steps} and {lr}")
    if out.resolve() == path.resolve():
        raise InputError(f"{out}: would overwrite the input; choose another output")
    sources = list_sources([path])
    if len(sources) != 1:
        raise InputError(f"{path}: holds {len(sources)} motion files; give one")
    source = sources[0]
    data = source.read()
    kind = options.format or detect_format(source.name, data[:4096])
    if kind == "bvh" and out.suffix.lower() != ".csv":
        raise InputError(f"{out}: BVH stores rotations; write the imputed positions to a .csv (joint CSV)")
    clips = read_source(source, options)
    frames, skeleton = sum(clip.frames for clip in clips), clips[0].skeleton
    marked = read_mask(mask, frames, skeleton) if mask is not None else np.zeros((frames, len(skeleton), 3), bool)
    results, first = [], 0
    for clip in clips:
        missing = np.isnan(clip.positions) | marked[first : first + clip.frames]
        first += clip.frames
        results.append(impute_clip(model, clip, missing, label, steps, lr, start, joint_map=joint_map))

    text = data.decode("utf-8")
    if kind == "joints":
        fill_joint_csv(text, clips[0], results[0].positions, results[0].filled, out, options.up or "z",
                       options.units or "m")  # fmt: skip
    elif kind == "laforge":
        positions = np.concatenate([r.positions for r in results])
        fill_laforge_csv(text, positions, np.concatenate([r.filled for r in results]), out, options.units or "m")
    else:
        write_joint_csv(replace(clips[0], positions=results[0].positions), out)
    return results
