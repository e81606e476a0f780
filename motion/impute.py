"""Filling occluded joint positions in clips of any length with a trained HG-VAE: `impute_clip`,
and `impute_file` for a whole motion file, written back in its own format.

A clip is resampled to the model's rate, cut into overlapping windows (each normalised at its
first frame, as the training windows were: motion.encoding.normalise_windows), imputed window by
window by MAP (HGVAE.impute) and blended back with weights that fall to zero at the window edges.
Missing entries at the clip's own frames are read off the blended trajectories; observed entries
are never touched. The model's fill is then composed with the donor fill (compose_fill) and weighed
against it by a probe on the clip's own observed values (probe_mask, probe_weight, LearnedFill).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from scipy.ndimage import gaussian_filter1d
from torch import Tensor

from motion.clip import Clip, resample
from motion.encoding import normalise_windows
from motion.errors import InputError
from motion.fills import FILLS, classical_fill, kinematic_fill
from motion.formats import (
    ReadOptions,
    Source,
    detect_format,
    fill_joint_csv,
    fill_laforge_csv,
    list_sources,
    read_mask,
    read_source,
    write_joint_csv,
)
from motion.formats.bvh import fill_bvh, read_bvh_file
from motion.gaps import gap_runs, short_gaps
from motion.geometry import from_local_frame
from motion.models.hgvae import HGVAE, MAP_LR
from motion.retarget import write_clip_bvh
from motion.skeleton import Skeleton, mirror_joints, preset_roles, resolve_joint_map

METHODS = ("hgvae", *FILLS)
"""How gaps are filled: the HG-VAE's MAP estimate, or one of the classical fills (motion.fills)."""
STARTS = ("donor", "kinematic", "spline", "interpolate", "mean")
"""Where the MAP search starts: a classical fill of each gap over the whole clip, or the training mean."""
FALLBACK_SECONDS = 0.75
"""Gaps up to this long keep the donor fill when the HG-VAE fills a clip and its checkpoint holds no
rule fitted against it (ModelMetadata.imputation; evaluation.gap_filling.fit_fallback, `motion evaluate
--parts fills --save-fallback`, fits one: 0.25 s for the shipped model)."""
BASE_FILL = "donor"
"""The classical fill impute_clip starts from by default and falls back to, which a fitted rule names as
"fill": a rule fitted when the HG-VAE fell back to the kinematic fill names none, and is ignored."""


@dataclass(frozen=True)
class ClipImputation:
    """The result of filling one clip.

    Attributes:
        positions: (frames, joints, 3) float32 metres, Z-up, on the clip's skeleton: observed
            entries as given, missing entries on the filled joints filled, others still NaN.
        filled: (frames, joints, 3) bool, the entries that were filled.
        method: the method that filled them (METHODS).
        uncovered: missing values on joints the model does not have (left NaN).
        windows: windows the HG-VAE imputed (0 for a classical fill, or when nothing was missing).
        labels: the class each window was imputed with (a class-conditional model), in window order.
        elbo_before, elbo_after: mean ELBO per window of the starting fill and of the result, nats
            (NaN for a classical fill, or when nothing was missing).
        score: the filled clip's out-of-distribution score (clip_elbo) when impute_source was given a
            model to score with, else NaN.
        window_elbo: the ELBO of each imputed window's start, nats, in window order (what elbo_floor
            is compared with).
        model_weight: how much of the model's departure from the donor fill was kept, fitted on the
            clip's probe (LearnedFill.compose): 1 the model's fill, 0 the donor fill; NaN where the
            model did not run (no long gap, or none with a probe), 1 where it ran unprobed.
    """

    positions: np.ndarray
    filled: np.ndarray
    method: str
    uncovered: int = 0
    windows: int = 0
    labels: tuple[str, ...] = ()
    elbo_before: float = float("nan")
    elbo_after: float = float("nan")
    score: float = float("nan")
    window_elbo: tuple[float, ...] = ()
    model_weight: float = float("nan")


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


def fill_clip(clip: Clip, missing: np.ndarray | None = None, method: str = "donor") -> ClipImputation:
    """Fill a clip's missing entries with a classical fill (motion.fills), on its own skeleton.

    Args:
        clip: the clip; values at missing entries are ignored.
        missing: (frames, joints, 3) bool, True where occluded; None: the clip's NaN entries.
        method: "linear", "spline", "kinematic" or "donor".
    """
    missing = np.isnan(clip.positions) if missing is None else missing
    positions = classical_fill(method, clip.positions, missing, clip.skeleton, clip.fps)
    never_seen = missing.all(0, keepdims=True) & missing  # a coordinate with no observed frame has nothing to go on
    positions = np.where(never_seen, np.nan, positions).astype(np.float32)
    return ClipImputation(positions, missing & ~never_seen, method, uncovered=int(never_seen.sum()))


def compose_fill(
    positions: np.ndarray,
    missing: np.ndarray,
    skeleton: Skeleton,
    fps: float,
    learned: np.ndarray,
    classical: np.ndarray,
    fallback_seconds: float,
    keep_bones: bool,
    smooth_seconds: float = 0.0,
) -> np.ndarray:
    """The learned fill of long gaps and the classical fill of short ones, as impute_clip composes them.

    Args:
        positions, missing: (frames, joints, 3) metres and bool, as kinematic_fill takes them.
        learned, classical: (frames, joints, 3) the two fills of every missing entry.
        fallback_seconds: gaps of a joint up to this long (in whole frames) take the classical fill.
        keep_bones: move the learned fill onto the clip's rigid bone lengths (motion.fills.kinematic_fill
            with it as the estimate), the short gaps' classical fill pinned.
        smooth_seconds: standard deviation of a Gaussian in time applied to the learned fill's departure
            from the classical one (0: none). MAP moves each missing entry on its own, so the learned
            fill jitters from frame to frame about the motion it finds.
    Returns:
        (frames, joints, 3) float32; observed entries as given.
    """
    short = short_gaps(missing.any(-1), fallback_seconds, fps)[..., None] & missing
    departure = np.where(missing & ~short, learned - classical, 0.0)
    if smooth_seconds > 0:
        departure = gaussian_filter1d(departure, smooth_seconds * fps, axis=0, mode="nearest")
    estimate = np.where(short, classical, classical + departure)
    if keep_bones:
        estimate = kinematic_fill(np.where(short, classical, positions), missing & ~short, skeleton, fps, estimate)
    return np.where(missing, estimate, positions).astype(np.float32)


def probe_mask(hole: np.ndarray, long: np.ndarray, mirror: list[int]) -> np.ndarray:
    """The observed entries hidden to check a fill of the long gaps: each long gap's mirror joint (its
    left-right counterpart) over the gap's frames, where observed. (Requiring it observed throughout
    would leave no probe where a few values are lost one by one: with 2 % of them, 97 % of 2 s gaps at
    30 fps.)

    Args:
        hole: (frames, joints, 3) bool, True where missing.
        long: (frames, joints) bool, the missing points of the gaps to check.
        mirror: each joint's counterpart (motion.skeleton.mirror_joints); a joint on the midline has none.
    Returns:
        (frames, joints, 3) bool.
    """
    probe = np.zeros_like(hole)
    for joint in np.flatnonzero(long.any(0)):
        other = mirror[joint]
        if other == joint:
            continue
        for first, stop in gap_runs(long[:, joint]):
            probe[first:stop, other] = ~hole[first:stop, other]
    return probe


def probe_weight(truth: np.ndarray, classical: np.ndarray, learned: np.ndarray, probe: np.ndarray) -> float:
    """The share w in [0, 1] of the learned fill's departure from the classical one that fits the probe
    best: argmin_w |classical + w (learned - classical) - truth|^2 over the probe's entries (0 where the
    two fills agree there, or there is no probe)."""
    departure = (learned - classical)[probe].astype(np.float64)
    error = (truth - classical)[probe].astype(np.float64)
    scale = float(departure @ departure)
    return float(np.clip(departure @ error / scale, 0.0, 1.0)) if scale > 0 else 0.0


@dataclass(frozen=True)
class LearnedFill:
    """The HG-VAE's fill of a clip's gaps before it is composed with the donor fill (compose), on the
    model's skeleton at the clip's frames, and the same with the clip's probe hidden too.

    Attributes:
        positions: (frames, joints, 3) float32 metres, NaN where missing (`hole`).
        hole: (frames, joints, 3) bool.
        skeleton: the model's; fps: the clip's.
        indices: the clip's joint of each model joint.
        classical: (frames, joints, 3) the donor fill of every missing entry.
        learned: the model's fill of every missing entry (None where the model did not run).
        check: (frames, joints, 3) bool, the observed entries hidden to check the model (probe_mask);
            None when the model is not to be checked.
        check_classical, check_learned: the two fills with `check` hidden as well (None without one).
        windows, labels, elbo_before, elbo_after, window_elbo: as ClipImputation has them.
    """

    positions: np.ndarray
    hole: np.ndarray
    skeleton: Skeleton
    fps: float
    indices: list[int]
    classical: np.ndarray
    learned: np.ndarray | None = None
    check: np.ndarray | None = None
    check_classical: np.ndarray | None = None
    check_learned: np.ndarray | None = None
    windows: int = 0
    labels: tuple[str, ...] = ()
    elbo_before: float = float("nan")
    elbo_after: float = float("nan")
    window_elbo: tuple[float, ...] = ()

    def compose(
        self, fallback_seconds: float, keep_bones: bool, smooth_seconds: float = 0.0
    ) -> tuple[np.ndarray, float]:
        """The filled positions, and the weight w of the model's departure from the donor fill in them.

        The model's fill is composed with the donor fill (compose_fill), and the result is donor +
        w (composed - donor). Checked, w is fitted on the probe of the gaps longer than
        fallback_seconds: both fills are made and composed alike with the probe hidden too, and
        probe_weight compares them with the probe's observed values; a clip whose long gaps have no
        probe (joints on the midline, or mirrors lost over the same frames) keeps the donor fill (w 0).
        Unchecked, w is 1. The two fills keep the clip's bone lengths (with keep_bones); a fill between
        them lies on the chord between two poses on the bones.

        Returns:
            (frames, joints, 3) float32 metres on the model's skeleton, observed entries as given;
            w (NaN where the model did not run).
        """
        if self.learned is None:
            return self.classical, float("nan")
        estimate = compose_fill(
            self.positions, self.hole, self.skeleton, self.fps, self.learned, self.classical, fallback_seconds,
            keep_bones, smooth_seconds,
        )  # fmt: skip
        if self.check is None:
            return estimate, 1.0
        probe = probe_mask(self.hole, _long_gaps(self.hole, fallback_seconds, self.fps), mirror_joints(self.skeleton))
        probe &= self.check  # the gaps the model fills at this threshold, of those checked
        weight = 0.0
        if probe.any():
            checked = compose_fill(
                np.where(self.check, np.nan, self.positions), self.hole | self.check, self.skeleton, self.fps,
                self.check_learned, self.check_classical, fallback_seconds, keep_bones, smooth_seconds,
            )  # fmt: skip
            weight = probe_weight(self.positions, self.check_classical, checked, probe)
        # Weighed after the bones are kept: moving the weighed fill onto the bones again undid much of
        # what the weight gained, on joints lost for 2 s in clips of contents the model never saw.
        return self.classical + weight * (estimate - self.classical), weight


def _long_gaps(hole: np.ndarray, fallback_seconds: float, fps: float) -> np.ndarray:
    """(frames, joints) bool: the missing points of the gaps longer than fallback_seconds, which the model fills."""
    lost = hole.any(-1)
    return lost & ~short_gaps(lost, fallback_seconds, fps)


def impute_clip(
    model: HGVAE,
    clip: Clip,
    missing: np.ndarray | None = None,
    label: str | None = None,
    steps: int = 10,
    lr: float = MAP_LR,
    start: str = BASE_FILL,
    stride: int | None = None,
    joint_map: str | Path | None = None,
    keep_bones: bool = True,
    fallback_seconds: float | None = None,
    elbo_floor: float | None = None,
    smooth_seconds: float | None = None,
    probe: bool = True,
) -> ClipImputation:
    """Fill a clip's missing entries with the HG-VAE's MAP estimate.

    Args:
        model: a trained HG-VAE (HGVAE.load), whose metadata gives its skeleton, rate and labels.
        clip: the clip; values at missing entries are ignored.
        missing: (frames, joints, 3) bool on the clip's skeleton, True where occluded; None: the
            clip's NaN entries.
        label: content label for a class-conditional model (one of model.metadata.labels); None:
            each window takes the label under which its starting fill has the highest ELBO, so
            any clip works, whatever it shows.
        steps, lr: as in HGVAE.impute.
        start: where the search starts (STARTS): each gap filled over the whole clip by the donor
            fill, the kinematic fill, the cubic spline or linear interpolation ("interpolate")
            (motion.fills), or the training mean.
        stride: frames between window starts at the model's rate (default: half a window).
        joint_map: JSON joint map for a clip whose skeleton is no preset (as in `motion preprocess`).
        keep_bones: move the model's fill onto the clip's rigid bone lengths afterwards (compose_fill;
            a probed fill then lies between two poses on the bones).
        fallback_seconds: gaps of a joint up to this long (in whole frames) keep the donor fill
            (motion.fills.donor_fill) instead of the model's: where observed frames close in time pin
            a gap, or the clip shows the lost motion elsewhere, the classical fill is better. Where
            every gap is this short, the model is not run (windows == 0). None: the model's fitted
            rule (metadata.imputation, when it names BASE_FILL and was fitted probed as `probe` is),
            else FALLBACK_SECONDS.
        elbo_floor: windows whose start has a lower ELBO (nats per window: out of the model's
            distribution) keep the donor fill; frames that several windows cover blend the two
            with the windows' blend weights. None: the model's fitted rule, else -inf (every window
            is trusted); the rule applies only with start BASE_FILL and no label, as it was fitted.
        smooth_seconds: as compose_fill takes it. None: the model's fitted rule, else 0.
        probe: check the model on the clip itself before trusting it: each long gap's mirror joint
            is hidden over the gap's frames too (probe_mask), both fills are made again, and the
            model's departure from the donor fill is kept by the share that fits the hidden values
            best (LearnedFill.compose; ClipImputation.model_weight). A model knows nothing of where
            it fails to generalise; the clip's own observed values do. It runs the model twice, and
            not at all where no long gap has a probe (then the donor fill stands: windows == 0).
    Raises:
        InputError: the model describes no data, the label or start is unknown, the skeleton cannot
            be mapped to the model's, or the root or a shoulder is never observed.
    """
    _check_settings(model, start, label)
    # A rule holds for the fill it was fitted with: from BASE_FILL, checked on probes or not.
    imputation = model.metadata.imputation
    rule = imputation if imputation.get("fill") == BASE_FILL and imputation.get("probe", False) == probe else {}
    fallback_seconds = rule.get("fallback_seconds", FALLBACK_SECONDS) if fallback_seconds is None else fallback_seconds
    smooth_seconds = rule.get("smooth_seconds", 0.0) if smooth_seconds is None else smooth_seconds
    if elbo_floor is None:  # the rule's floor was fitted on ELBOs of donor starts under each window's best label
        fitted_alike = start == BASE_FILL and label is None
        elbo_floor = rule.get("elbo_floor", -math.inf) if fitted_alike else -math.inf
    missing = np.isnan(clip.positions) if missing is None else missing
    if not missing.any():
        return ClipImputation(clip.positions, np.zeros_like(missing), "hgvae")
    search = MapSearch(label, steps, lr, start, stride, joint_map)
    fill = learned_fill(model, clip, missing, search, fallback_seconds, elbo_floor, probe)
    estimate, weight = fill.compose(fallback_seconds, keep_bones, smooth_seconds)
    return _write_back(
        clip, missing, fill.indices, fill.hole, estimate, windows=fill.windows, labels=fill.labels,
        elbo_before=fill.elbo_before, elbo_after=fill.elbo_after, window_elbo=fill.window_elbo, model_weight=weight,
    )  # fmt: skip


@dataclass(frozen=True)
class MapSearch:
    """How the model's MAP search runs on a clip: impute_clip's arguments of the same names."""

    label: str | None = None
    steps: int = 10
    lr: float = MAP_LR
    start: str = BASE_FILL
    stride: int | None = None
    joint_map: str | Path | None = None


def learned_fill(
    model: HGVAE,
    clip: Clip,
    missing: np.ndarray,
    search: MapSearch = MapSearch(),
    fallback_seconds: float = FALLBACK_SECONDS,
    elbo_floor: float = -math.inf,
    probe: bool = True,
) -> LearnedFill:
    """The model's fill of every missing entry, and of them and the probe of the gaps longer than
    fallback_seconds (probe_mask) hidden together, ready to compose (LearnedFill.compose) at that
    threshold or any longer one. The model does not run where no gap is that long, nor, probed, where
    no such gap has a probe.

    Args:
        model, clip: as impute_clip takes them.
        missing: (frames, joints, 3) bool on the clip's skeleton, True where occluded.
        search: impute_clip's label, steps, lr, start, stride and joint_map.
        fallback_seconds, elbo_floor: as impute_clip takes them, without the model's rule.
        probe: check the model on its probe.
    Raises:
        InputError: as impute_clip.
    """
    _check_settings(model, search.start, search.label)
    skeleton = model.metadata.skeleton
    indices = resolve_joint_map(clip.skeleton, skeleton.name, search.joint_map, clip.source).indices(
        clip.skeleton, clip.source
    )
    hole = missing[:, indices]
    positions = np.where(hole, np.nan, clip.positions[:, indices]).astype(np.float32)
    # The search starts from each gap filled over the whole clip at its own rate: a window alone
    # would hold values flat where a gap crosses its edge.
    classical = classical_fill(BASE_FILL, positions, hole, skeleton, clip.fps)  # what the model falls back to
    fill = LearnedFill(positions, hole, skeleton, clip.fps, indices, classical)
    long = _long_gaps(hole, fallback_seconds, clip.fps)
    check = probe_mask(hole, long, mirror_joints(skeleton)) if probe else None
    if not long.any() or (check is not None and not check.any()):  # the donor fill stands
        return fill
    fill = replace(fill, **_model_fill(model, positions, hole, classical, clip, search, elbo_floor))
    if check is None:
        return fill
    both, hidden = hole | check, np.where(check, np.nan, positions)
    check_classical = classical_fill(BASE_FILL, hidden, both, skeleton, clip.fps)
    try:
        checked = _model_fill(model, hidden, both, check_classical, clip, search, elbo_floor)
    except InputError:  # the probe hid the last frames of a joint the windows need (a shoulder): nothing to check
        return replace(fill, check=np.zeros_like(check))
    return replace(fill, check=check, check_classical=check_classical, check_learned=checked["learned"])


def _check_settings(model: HGVAE, start: str, label: str | None) -> None:
    if model.metadata is None:
        raise InputError("the HG-VAE's checkpoint names no skeleton or rate; train it with motion train hgvae")
    if start not in STARTS:
        raise InputError(f"start {start!r}: expected one of {', '.join(STARTS)}")
    if label is not None:
        model.metadata.label_index(label)  # an unknown label fails even where the model has nothing to fill


def _model_fill(
    model: HGVAE,
    positions: np.ndarray,
    hole: np.ndarray,
    classical: np.ndarray,
    clip: Clip,
    search: MapSearch,
    elbo_floor: float,
) -> dict:
    """The model's MAP fill of every missing entry of `positions` (on its skeleton, at the clip's rate
    clip.fps), window by window, each window below elbo_floor keeping `classical`: LearnedFill's
    learned, windows, labels, elbo_before, elbo_after and window_elbo."""
    metadata = model.metadata
    skeleton, fps, frames = metadata.skeleton, metadata.fps, model.config.frames
    start = search.start
    if start == BASE_FILL:
        start_fill = classical
    else:  # the mean search still aligns its windows on the interpolation
        method = "linear" if start in ("interpolate", "mean") else start
        start_fill = classical_fill(method, positions, hole, skeleton, clip.fps)
    at_rate = torch.from_numpy(resample(positions, clip.fps, fps).copy())
    guide = torch.from_numpy(resample(start_fill, clip.fps, fps).copy())
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

    starts = window_starts(len(guide), frames, search.stride or frames // 2)
    span = torch.tensor(starts)[:, None] + torch.arange(frames)
    windows, origin, facing = normalise_windows(guide[span], roles)
    never_seen = hole_at_rate.all(0)  # coordinates with nothing to interpolate start at the training mean
    windows = torch.where(never_seen, model.data_mean.cpu().reshape(model.window_shape), windows)
    device = model.data_mean.device
    windows = windows.to(device)
    labels = _window_labels(model, windows, search.label)
    search_start = "mean" if start == "mean" else "given"
    result = model.impute(
        windows, hole_at_rate[span].to(device), labels, steps=search.steps, lr=search.lr, start=search_start
    )
    restored = from_local_frame(result.windows.cpu().reshape(len(starts), -1, 3), origin, facing)

    trusted = (result.elbo_before.cpu() >= elbo_floor).float()
    weights = torch.from_numpy(blend_weights(frames))[:, None, None]
    total = torch.zeros_like(guide)
    weight_sum, trust_sum = torch.zeros(len(guide), 1, 1), torch.zeros(len(guide), 1, 1)
    for window, first, trust in zip(restored.reshape(len(starts), frames, -1, 3), starts, trusted, strict=True):
        total[first : first + frames] += weights * window
        weight_sum[first : first + frames] += weights
        trust_sum[first : first + frames] += weights * trust
    blended = (total / weight_sum)[:count].numpy()
    trust = (trust_sum / weight_sum)[:count].numpy()

    # Back to the clip's frames: each missing entry is read off the blended trajectory.
    at = np.minimum(np.arange(clip.frames) * fps / clip.fps, count - 1)
    before = np.minimum(np.floor(at).astype(np.int64), max(count - 2, 0))
    after = np.minimum(before + 1, count - 1)
    weight = (at - before).astype(np.float32)[:, None, None]
    estimate = blended[before] * (1 - weight) + blended[after] * weight
    trust_here = trust[before] * (1 - weight) + trust[after] * weight  # (clip frames, 1, 1)
    return {
        "learned": classical + trust_here * (estimate - classical),
        "windows": len(starts),
        "labels": () if labels is None else tuple(metadata.labels[i] for i in labels.tolist()),
        "elbo_before": result.elbo_before.mean().item(),
        "elbo_after": result.elbo_after.mean().item(),
        "window_elbo": tuple(result.elbo_before.tolist()),
    }


def _write_back(
    clip: Clip, missing: np.ndarray, indices, hole: np.ndarray, estimate: np.ndarray, **figures
) -> ClipImputation:
    """The clip with the model's joints' missing entries (`hole`, on the model's skeleton) set from `estimate`;
    missing entries on joints the model lacks stay NaN (ClipImputation.uncovered)."""
    out = clip.positions.copy()
    sub = out[:, indices]
    sub[hole] = estimate[hole]
    out[:, indices] = sub
    filled = np.zeros_like(missing)
    filled[:, indices] = hole
    covered = np.zeros(len(clip.skeleton), dtype=bool)
    covered[indices] = True
    return ClipImputation(out, filled, "hgvae", uncovered=int(missing[:, ~covered].sum()), **figures)


def _window_labels(model: HGVAE, windows: Tensor, label: str | None) -> Tensor | None:
    """(windows,) class indices for a class-conditional model: `label`'s, or for each window the class
    under which the window (its starting fill) has the highest ELBO; None for an unconditional model."""
    if not model.config.classes:
        return None
    if label is not None:
        return torch.full((len(windows),), model.metadata.label_index(label), device=windows.device)
    classes = range(model.config.classes)
    elbo = torch.stack([model.elbo(windows, torch.full((len(windows),), k, device=windows.device)) for k in classes], 1)
    return elbo.argmax(1)


def clip_elbo(model: HGVAE, clip: Clip, joint_map: str | Path | None = None) -> float:
    """The clip's out-of-distribution score: its mean ELBO per window under the model, nats (lower: less
    like the training data); for a class-conditional model each window takes its best label.

    The clip is mapped to the model's skeleton, resampled to its rate and cut into windows overlapping
    by half, each normalised at its first frame, as impute_clip cuts them.

    Returns:
        NaN for a clip shorter than a window or with a missing value on a joint the model has, or
        when the model describes no data.
    """
    metadata = model.metadata
    if metadata is None:
        return float("nan")
    skeleton, frames = metadata.skeleton, model.config.frames
    indices = resolve_joint_map(clip.skeleton, skeleton.name, joint_map, clip.source).indices(
        clip.skeleton, clip.source
    )
    at_rate = torch.from_numpy(resample(clip.positions[:, indices], clip.fps, metadata.fps).copy())
    if len(at_rate) < frames or not torch.isfinite(at_rate).all():
        return float("nan")
    span = torch.tensor(window_starts(len(at_rate), frames, frames // 2))[:, None] + torch.arange(frames)
    windows, _, _ = normalise_windows(at_rate[span], preset_roles(skeleton.name))
    windows = windows.to(model.data_mean.device)
    with torch.no_grad():
        return model.elbo(windows, _window_labels(model, windows, None)).mean().item()


def _score(model: HGVAE, clip: Clip, joint_map: str | Path | None) -> float:
    try:
        return clip_elbo(model, clip, joint_map)
    except InputError:  # a skeleton the model cannot read has no score, yet its fill stands
        return float("nan")


def impute_file(
    path: str | Path,
    out: str | Path,
    method: str = "donor",
    model: HGVAE | None = None,
    mask: str | Path | None = None,
    options: ReadOptions = ReadOptions(),
    joint_map: str | Path | None = None,
    **settings,
) -> list[ClipImputation]:
    """Fill the occluded values of every clip (take) in a motion file and write the file in its own format.

    Occlusions are the empty or NaN values, plus those `mask` marks. A joint or LaForge CSV is
    written back with only its missing cells filled, every other cell keeping its text. A BVH
    written as BVH keeps the text of every frame without a filled joint and has the others
    re-solved on its own rig (motion.formats.bvh.fill_bvh); written to a .csv it becomes a joint CSV
    (Z-up, metres). A joint CSV written to a .bvh gets joint rotations on its own skeleton
    (motion.retarget.write_clip_bvh).

    Args:
        path: the motion file.
        out: the output file (not `path`); written atomically.
        method: "hgvae" (impute_clip), or a classical fill (fill_clip).
        model: the HG-VAE, for method "hgvae".
        mask: an occlusion mask file (motion.formats.read_mask) in the file's joint order, over all
            its frames; None: only the empty cells.
        options: how to read the file (format, fps, up axis, units), as motion.formats reads it.
        joint_map: JSON joint map for a skeleton that is no preset (method "hgvae").
        settings: impute_clip's label, steps, lr, start, keep_bones, fallback_seconds, elbo_floor,
            smooth_seconds, probe.
    Returns:
        one ClipImputation per clip of the file.
    Raises:
        InputError: a bad file, mask, method, label or output path.
    """
    path = Path(path)
    if Path(out).resolve() == path.resolve():
        raise InputError(f"{out}: would overwrite the input; choose another output")
    sources = list_sources([path])
    if len(sources) != 1:
        raise InputError(f"{path}: holds {len(sources)} motion files; give one")
    return impute_source(sources[0], out, method, model, mask, options, joint_map, **settings)


def impute_source(
    source: Source,
    out: str | Path,
    method: str = "donor",
    model: HGVAE | None = None,
    mask: str | Path | None = None,
    options: ReadOptions = ReadOptions(),
    joint_map: str | Path | None = None,
    scorer: HGVAE | None = None,
    **settings,
) -> list[ClipImputation]:
    """impute_file for one motion source (a file, or a member of a zip archive: motion.formats.list_sources).

    Args:
        scorer: if given, each result's `score` is the filled clip's clip_elbo under it (NaN where its
            skeleton cannot be mapped to the scorer's).
    """
    out = Path(out)
    if method not in METHODS:
        raise InputError(f"method {method!r}: expected one of {', '.join(METHODS)}")
    if method == "hgvae" and model is None:
        raise InputError("method 'hgvae' needs a model")
    if settings.get("steps", 0) < 0 or settings.get("lr", 1) <= 0:
        raise InputError(f"steps must be >= 0 and lr > 0, got {settings.get('steps')} and {settings.get('lr')}")
    data = source.read()
    kind = options.format or detect_format(source.name, data[:4096])
    if out.suffix.lower() not in (".csv", ".bvh"):
        raise InputError(f"{out}: the output must end in .csv or .bvh")
    if not out.parent.is_dir():
        raise InputError(f"{out}: no folder {out.parent} to write it in")
    if kind == "laforge" and out.suffix.lower() == ".bvh":
        raise InputError(f"{out}: a LaForge CSV may hold several takes; fill it to a .csv, then motion export a take")
    clips = read_source(source, options)
    frames, skeleton = sum(clip.frames for clip in clips), clips[0].skeleton
    marked = read_mask(mask, frames, skeleton) if mask is not None else np.zeros((frames, len(skeleton), 3), bool)
    results, first = [], 0
    for clip in clips:
        if clip.frames == 0:
            raise InputError(f"{clip.source}: has no frames to fill")
        missing = np.isnan(clip.positions) | marked[first : first + clip.frames]
        first += clip.frames
        if method == "hgvae":
            results.append(impute_clip(model, clip, missing, joint_map=joint_map, **settings))
        else:
            results.append(fill_clip(clip, missing, method))
        if scorer is not None:
            results[-1] = replace(
                results[-1], score=_score(scorer, replace(clip, positions=results[-1].positions), joint_map)
            )

    text = data.decode("utf-8")
    if out.suffix.lower() == ".bvh":
        if kind == "bvh":
            bvh = read_bvh_file(text, source.name, source.stem, options.units, options.up or "y")
            # A coordinate the mask hides in every frame has no fill: the file's own value stands.
            positions = np.where(np.isnan(results[0].positions), bvh.clip.positions, results[0].positions)
            fill_bvh(bvh, positions, results[0].filled, out)
        else:
            write_clip_bvh(replace(clips[0], positions=results[0].positions), out)
    elif kind == "joints":
        fill_joint_csv(text, clips[0], results[0].positions, results[0].filled, out, options.up or "z",
                       options.units or "m")  # fmt: skip
    elif kind == "laforge":
        positions = np.concatenate([r.positions for r in results])
        fill_laforge_csv(text, positions, np.concatenate([r.filled for r in results]), out, options.units or "m")
    else:
        write_joint_csv(replace(clips[0], positions=results[0].positions), out)
    return results
