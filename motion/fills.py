"""Classical gap fills of a clip's joint trajectories, as mocap tools make them: linear and cubic-spline
interpolation in time, a kinematic fill that keeps the bone lengths measured on the clip's own
observed frames, and a donor fill that takes a lost joint's motion from the clip's most similar
moments (donor_fill).

The kinematic fill starts from an estimate of each missing point (by default the spline fill for gaps
up to SPLINE_SECONDS and the linear one for longer gaps, through which a cubic overshoots; or any
other, such as a model's) and moves it as little as it must to keep its rigid bones, by relaxing the bone-length
constraints in turn until they hold (position-based dynamics, Müller et al. 2007): a missing point next
to an observed one moves along their bone onto the sphere of its length; a middle joint whose two ends
are observed (a knee between hip and ankle) settles on the circle where both bones meet, near its
estimate, so the chain bends in the plane its estimate (interpolated in time) bends in; a chain of
missing joints shares the corrections out. Observed points, and partly observed ones (their observed
coordinates pin them; their missing ones take the estimate), never move. Bones whose length varies on
the observed frames (Bandai's floor-level `joint_Root` below the hips, say) are not rigid and
constrain nothing.

Every function takes positions (frames, joints, 3) metres and a missing mask of the same shape, and
returns positions with the missing entries filled and every observed entry as given.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.interpolate import CubicSpline

from motion.errors import InputError
from motion.gaps import gap_runs, interpolate_gaps, short_gaps
from motion.geometry import facing_direction, from_local_frame, to_local_frame
from motion.skeleton import Skeleton, preset_roles

FILLS = ("linear", "spline", "kinematic", "donor")
"""The classical fills, by name (motion impute --method)."""

SPLINE_SECONDS = 0.75
"""Gaps up to this long start the kinematic fill from the spline, longer ones from the linear fill: on
the shipped locomotion clips, the spline is the better start for joints lost for 0.25-0.5 s, the line
for 1-2 s."""


def classical_fill(
    method: str, positions: np.ndarray, missing: np.ndarray, skeleton: Skeleton, fps: float
) -> np.ndarray:
    """The fill named `method` (FILLS), given what every fill may need.

    Args:
        method: "linear", "spline", "kinematic" or "donor".
        positions, missing, skeleton, fps: as kinematic_fill takes them.
    Raises:
        InputError: an unknown method.
    """
    if method == "linear":
        return linear_fill(positions, missing)
    if method == "spline":
        return spline_fill(positions, missing)
    if method == "kinematic":
        return kinematic_fill(positions, missing, skeleton, fps)
    if method == "donor":
        return donor_fill(positions, missing, skeleton, fps)
    raise InputError(f"method {method!r}: the classical fills are {', '.join(FILLS)}")


RIGID_SPREAD = 0.05
"""A bone is rigid when its length's standard deviation on the observed frames is under this fraction of its mean."""

RELAXATIONS = 200  # rounds over every bone at most; a missing joint beside observed ones settles in one
TOLERANCE = 1e-5  # metres: the relaxation stops once every bone is within this of its length


def linear_fill(positions: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """Each missing value interpolated linearly in time between the nearest observed frames of its
    coordinate; beyond the first or last observed frame, that frame's value is held
    (motion.gaps.interpolate_gaps, on a clip).

    Args:
        positions: (frames, joints, 3) metres; values at missing entries are ignored.
        missing: (frames, joints, 3) bool.
    Returns:
        (frames, joints, 3) float32; a coordinate never observed is 0.
    """
    frames = positions.shape[0]
    values = torch.from_numpy(np.nan_to_num(positions, nan=0.0).astype(np.float32)).reshape(frames, -1)
    holes = torch.from_numpy(missing).reshape(frames, -1)
    return interpolate_gaps(values, holes).reshape(positions.shape).numpy()


def spline_fill(positions: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """Each missing value on the cubic spline (not-a-knot) through every observed frame of its
    coordinate; beyond the first or last observed frame, that frame's value is held (a spline would
    run off), and with one observed frame the fill is that value.

    Args, Returns: as linear_fill.
    """
    return _per_coordinate(positions, missing, _spline)


def _spline(time: np.ndarray, values: np.ndarray, at: np.ndarray) -> np.ndarray:
    if len(time) < 2:
        return np.full(len(at), values[0])
    return CubicSpline(time, values)(np.clip(at, time[0], time[-1]))


def _per_coordinate(positions: np.ndarray, missing: np.ndarray, interpolate) -> np.ndarray:
    """Fill each coordinate's missing frames with interpolate(observed times, values, missing times)."""
    frames = positions.shape[0]
    flat_missing = missing.reshape(frames, -1)
    filled = np.where(missing, 0.0, positions).astype(np.float64).reshape(frames, -1)
    time = np.arange(frames, dtype=np.float64)
    for column in np.flatnonzero(flat_missing.any(0)):
        observed = ~flat_missing[:, column]
        if observed.any():
            gaps = ~observed
            filled[gaps, column] = interpolate(time[observed], filled[observed, column], time[gaps])
    return filled.reshape(positions.shape).astype(np.float32)


def rigid_bone_lengths(positions: np.ndarray, observed_points: np.ndarray, parents: tuple[int, ...]) -> np.ndarray:
    """The length of each rigid bone (joint to parent) over the frames where both ends are observed.

    Args:
        positions: (frames, joints, 3) metres.
        observed_points: (frames, joints) bool, True where a joint's three coordinates are observed.
        parents: parent index per joint, -1 for a root.
    Returns:
        (joints,) median lengths, metres; NaN for a root, a bone never observed whole, or one whose
        length varies by RIGID_SPREAD or more (not rigid).
    """
    lengths = np.full(len(parents), np.nan)
    for joint, parent in enumerate(parents):
        if parent < 0:
            continue
        both = observed_points[:, joint] & observed_points[:, parent]
        if both.sum() < 2:
            continue
        length = np.linalg.norm(positions[both, joint] - positions[both, parent], axis=-1)
        if length.std() < RIGID_SPREAD * length.mean():
            lengths[joint] = np.median(length)
    return lengths


def classical_estimate(positions: np.ndarray, missing: np.ndarray, fps: float) -> np.ndarray:
    """The kinematic fill's default start: the spline fill in gaps up to SPLINE_SECONDS, the linear fill in longer ones.

    Args:
        positions, missing: as linear_fill.
        fps: the clip's frame rate, to measure the gaps in seconds.
    """
    short = short_gaps(missing.any(-1), SPLINE_SECONDS, fps)[..., None]
    return np.where(short, spline_fill(positions, missing), linear_fill(positions, missing))


def kinematic_fill(
    positions: np.ndarray,
    missing: np.ndarray,
    skeleton: Skeleton,
    fps: float,
    estimate: np.ndarray | None = None,
) -> np.ndarray:
    """Missing points moved from their estimate to keep the clip's rigid bone lengths.

    Only joints lost whole move; a partly observed point keeps its estimate for the missing
    coordinates (its observed ones pin it already) and holds its bones like an observed one.

    Args:
        positions: (frames, joints, 3) metres; values at missing entries are ignored.
        missing: (frames, joints, 3) bool.
        skeleton: the joints' parents.
        fps: the clip's frame rate.
        estimate: (frames, joints, 3) a first guess of the missing points (default: classical_estimate).
    Returns:
        (frames, joints, 3) float32. Points with no rigid bone keep their estimate; where the bones
        cannot all hold (a gap whose observed ends are farther apart than the chain reaches) the
        lengths are as near as the relaxation gets in RELAXATIONS rounds.
    """
    estimate = classical_estimate(positions, missing, fps) if estimate is None else estimate
    lengths = rigid_bone_lengths(positions, ~missing.any(-1), skeleton.parents)
    bones = [
        (joint, parent, lengths[joint]) for joint, parent in enumerate(skeleton.parents) if np.isfinite(lengths[joint])
    ]
    whole = missing.all(-1, keepdims=True)  # (frames, joints, 1): the points that move
    rows = whole.any((1, 2))
    out = np.where(missing, estimate, positions).astype(np.float64)
    pose, movable = out[rows], whole[rows].astype(np.float64)  # only the frames with a lost joint take part
    for _ in range(RELAXATIONS):
        worst = 0.0
        for joint, parent, length in bones:
            share = movable[:, joint] + movable[:, parent]  # (rows, 1): how many of the bone's ends may move
            active = share[:, 0] > 0
            if not active.any():
                continue
            offset = pose[active, joint] - pose[active, parent]
            distance = np.linalg.norm(offset, axis=-1, keepdims=True)
            correction = (distance - length) * offset / np.maximum(distance, 1e-9)  # shortens by the excess
            share = np.maximum(share[active], 1.0)
            pose[active, joint] -= movable[active, joint] / share * correction
            pose[active, parent] += movable[active, parent] / share * correction
            worst = max(worst, float(np.abs(distance - length).max()))
        if worst < TOLERANCE:
            break
    out[rows] = pose
    return np.where(missing, out, positions).astype(np.float32)


DONOR_SECONDS = 0.2
"""Gaps of a joint longer than this take the donor fill; shorter ones keep the kinematic fill, which
observed frames this close pin better than any other moment of the clip can."""

DONOR_CONTEXT_SECONDS = 0.1
"""The donor search compares the gap and this long either side of it. This and DONORS were chosen
among 0.1-0.8 s and 1-5 donors on 60 val clips of eight contents, with every pattern of whole lost
joints (evaluation.gap_filling); run and wave-both-hands, the contents held out there, took no part."""

DONOR_ANCHOR_WEIGHT = 4.0
"""Weight of the lost joint's own observed frames either side of the gap, against 1 for every other
observed joint: where the lost joint was just before and after is what the fill must join."""

SEARCH_VALUES = 1 << 22  # positions compared at once by the donor search: about 16 MB of float32

DONORS = 3
"""How many of the best-matching moments are averaged: three halve the error of one on 0.25 s gaps."""


def donor_fill(
    positions: np.ndarray,
    missing: np.ndarray,
    skeleton: Skeleton,
    fps: float,
    min_seconds: float = DONOR_SECONDS,
    context_seconds: float = DONOR_CONTEXT_SECONDS,
    anchor_weight: float = DONOR_ANCHOR_WEIGHT,
    donors: int = DONORS,
) -> np.ndarray:
    """Each long gap of a joint filled with that joint's own motion at the moment of the clip most like
    the gap, then kept on the clip's bones (kinematic_fill with it as the estimate).

    Mocap repeats itself: a stride, a wave, a swing recurs within a take, and the joint lost in one
    repetition was seen in another (Vicon Nexus's cyclic fill, made automatic). For a joint missing
    over frames [a, b), the search compares the body in its own frame (root on the ground, facing +x:
    motion.geometry.to_local_frame) over [a - context, b + context), on every joint observed there,
    with each other span of the clip where that joint is observed throughout, and takes the closest
    (or averages the `donors` closest). The donor's trajectory of the joint, in the body's frame, is
    bent linearly so that it meets the joint's observed positions at both ends of the gap (as a pattern
    fill bends its donor), and set in the body's frame of each gap frame.

    Gaps of `min_seconds` or less, and gaps with no donor span (a joint lost for most of the clip),
    keep the kinematic fill.

    Args:
        positions: (frames, joints, 3) metres; values at missing entries are ignored.
        missing: (frames, joints, 3) bool.
        skeleton: the joints' parents; a preset's roles give the body's frame (otherwise the root's
            ground position alone: the search then cannot undo turns).
        fps: the clip's frame rate.
        min_seconds, context_seconds, anchor_weight, donors: the search, as the constants above.
    Returns:
        (frames, joints, 3) float32, as kinematic_fill.
    """
    base = kinematic_fill(positions, missing, skeleton, fps)
    lost = missing.any(-1)  # (frames, joints): a point with any coordinate missing is searched for whole
    long = lost & ~short_gaps(lost, min_seconds, fps)
    if not long.any():
        return base
    local, origin, facing = _body_frame(base, skeleton)
    estimate, donated = local.copy(), np.zeros_like(long)
    context = max(int(round(context_seconds * fps)), 1)
    for joint in np.flatnonzero(long.any(0)):
        for first, stop in gap_runs(long[:, joint]):
            fill = _donor(local, lost, joint, first, stop, context, anchor_weight, donors)
            if fill is not None:
                estimate[first:stop, joint], donated[first:stop, joint] = fill, True
    if not donated.any():
        return base
    estimate = from_local_frame(torch.from_numpy(estimate), origin, facing).numpy()
    return kinematic_fill(positions, missing, skeleton, fps, np.where(donated[..., None], estimate, base))


def _body_frame(positions: np.ndarray, skeleton: Skeleton) -> tuple[np.ndarray, torch.Tensor, torch.Tensor]:
    """(frames, joints, 3) positions in each frame's body frame, and that frame's origin and facing (frames, 3)."""
    points = torch.from_numpy(positions.astype(np.float32))
    try:
        roles = preset_roles(skeleton.name)
        root = roles["root"]
        facing = facing_direction(points[:, roles["left_shoulder"]], points[:, roles["right_shoulder"]])
    except (InputError, FileNotFoundError):  # no preset: the root's ground position is the whole frame
        root = skeleton.parents.index(-1) if -1 in skeleton.parents else 0
        facing = torch.tensor([1.0, 0.0, 0.0]).expand(len(points), 3)
    origin = points[:, root]
    return to_local_frame(points, origin, facing).numpy(), origin, facing


def _donor(
    local: np.ndarray,
    lost: np.ndarray,
    joint: int,
    first: int,
    stop: int,
    context: int,
    anchor_weight: float,
    donors: int,
) -> np.ndarray | None:
    """(stop - first, 3) the body-frame fill of `joint` over [first, stop) from its best donor spans, or None."""
    frames = len(local)
    low, high = max(first - context, 0), min(stop + context, frames)
    length = high - low
    if length >= frames:
        return None
    observed = ~lost
    weight = observed[low:high].astype(np.float32)  # (length, joints)
    here = np.arange(low, high)
    weight[:, joint] = anchor_weight * (observed[low:high, joint] & ((here < first) | (here >= stop)))
    # Every span of `length` frames, as (spans, length, joints[, 3]) views.
    spans = np.lib.stride_tricks.sliding_window_view(local, length, axis=0).transpose(0, 3, 1, 2)
    seen = np.lib.stride_tricks.sliding_window_view(observed, length, axis=0).transpose(0, 2, 1)
    usable = seen[:, :, joint].all(1)  # the donor must show the joint throughout
    if not usable.any():
        return None
    candidates = np.flatnonzero(usable)
    distance = np.empty(len(candidates))
    chunk = max(SEARCH_VALUES // local[0].size // length, 1)  # candidates compared at once, to bound memory
    for begin in range(0, len(candidates), chunk):
        some = candidates[begin : begin + chunk]
        both = weight * seen[some]  # (candidates, length, joints)
        squared = ((spans[some] - local[low:high]) ** 2).sum(-1)
        distance[begin : begin + chunk] = (both * squared).sum((1, 2)) / np.maximum(both.sum((1, 2)), 1e-9)
    best = candidates[np.argsort(distance)[:donors]]
    # The donor's joint over the gap and the frame either side, where the gap has one.
    before, after = first - 1 - low, stop - low  # indices into a span
    fills = []
    for start in best:
        track = local[start : start + length, joint]
        gap = track[first - low : stop - low]
        start_offset = local[first - 1, joint] - track[before] if first > 0 else None
        end_offset = local[stop, joint] - track[after] if stop < frames else None
        start_offset = end_offset if start_offset is None else start_offset
        end_offset = start_offset if end_offset is None else end_offset
        ramp = (np.arange(1, stop - first + 1) / (stop - first + 1))[:, None]
        fills.append(gap + (1 - ramp) * start_offset + ramp * end_offset)
    return np.mean(fills, 0)
