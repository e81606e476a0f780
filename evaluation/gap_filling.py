"""Gap filling on whole clips the model never saw: the occlusion patterns of real mocap, the classical
fills (motion.fills) and the HG-VAE side by side, and the fallback rule fitted on val clips.

Patterns (one per clip, drawn with a seeded generator): 1-3 random joints lost whole over 0.25, 0.5,
1 and 2 s; one limb (3-4 joints of an arm or a leg) over 1 s; 1 %, 5 % and 10 % of the values lost
one by one. Figures per pattern and method: MSE over the missing values (cm^2) and MPJPE over the
joint-frames with a missing coordinate (mm), pooled over the clips.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from evaluation.imputation import errors
from motion.clip import Clip
from motion.fills import FILLS
from motion.formats import list_sources, read_source
from motion.impute import BASE_FILL, ClipImputation, MapSearch, fill_clip, impute_clip, learned_fill
from motion.models import HGVAE
from motion.skeleton import Skeleton, preset_roles, resolve_joint_map
from motion.splits import split_sources

GAP_SECONDS = (0.25, 0.5, 1.0, 2.0)
LIMB_SECONDS = 1.0
RANDOM_RATES = (0.01, 0.05, 0.10)
FALLBACK_MARGIN = 0.005  # relative MSE: a longer threshold this close to the best fitted one is preferred
PATTERN_MARGIN = 0.01  # relative MSE: a threshold that leaves any pattern worse than this on val is not chosen
MIN_SECONDS = GAP_SECONDS[-1] + 1.0  # clips shorter than this are left out of the figures
FALLBACK_CANDIDATES = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.5)  # seconds: the fallback threshold is fitted among these
SMOOTH_CANDIDATES = (0.0, 0.05, 0.1, 0.2)  # seconds: the learned fill's smoothing is fitted among these
RULE = {
    "fallback_seconds": "seconds", "elbo_floor": "elbo_floor", "smooth_seconds": "smooth_seconds", "fill": "fill",
    "probe": "probe",
}  # fmt: skip
"""The fitted rule as a checkpoint records it (ModelMetadata.imputation): its names, and fit_fallback's keys."""
TOOL_FILLS = ("linear", "spline", "kinematic")
"""The fills mocap tools already make (splines in Vicon Nexus, MotionBuilder and Blender; rigid-body fills
that keep bones): the donor fill is ours, so ratios are given to the best of these as well."""
PATTERNS = (
    *(f"joints {seconds:g} s" for seconds in GAP_SECONDS),
    f"limb {LIMB_SECONDS:g} s",
    *(f"random {100 * rate:g}%" for rate in RANDOM_RATES),
)


def limbs(skeleton: Skeleton) -> list[list[int]]:
    """The limbs of a skeleton: each chain of 3-4 joints from a leaf up to, not including, the first
    joint with several children (an arm from the shoulder, a leg from the upper leg)."""
    children = [sum(parent == joint for parent in skeleton.parents) for joint in range(len(skeleton))]
    found = []
    for leaf in (joint for joint in range(len(skeleton)) if children[joint] == 0):
        chain = [leaf]
        while skeleton.parents[chain[-1]] >= 0 and children[skeleton.parents[chain[-1]]] == 1:
            chain.append(skeleton.parents[chain[-1]])
        if 3 <= len(chain) <= 4:
            found.append(chain[::-1])
    return found


def pattern_mask(pattern: str, clip: Clip, generator: np.random.Generator) -> np.ndarray:
    """(frames, joints, 3) bool: one draw of `pattern` (PATTERNS) on `clip`."""
    mask = np.zeros(clip.positions.shape, bool)
    kind, amount = pattern.split()[:2]
    if kind == "random":
        return generator.random(mask.shape) < float(amount.rstrip("%")) / 100
    length = min(int(round(float(amount) * clip.fps)), clip.frames - 2)
    first = int(generator.integers(1, clip.frames - length))
    if kind == "limb":
        options = limbs(clip.skeleton)
        joints = options[int(generator.integers(len(options)))]
    else:
        joints = generator.permutation(len(clip.skeleton))[: int(generator.integers(1, 4))]
    mask[first : first + length, joints] = True
    return mask


def split_clips(
    paths: Iterable[str | Path],
    splits: Iterable[str],
    skeleton: str,
    contents: Iterable[str] = (),
    exclude: Iterable[str] = (),
) -> list[Clip]:
    """The clips of the given splits, on `skeleton`, that last MIN_SECONDS at least (every pattern
    leaves frames either side of its gap): of `contents` (all when empty), without `exclude`.

    Splits are assigned over every source of `paths` before the contents are chosen, as for a model
    trained on some contents of data preprocessed whole (training.data selects rows by content within
    the preprocessed splits): a clip's split never depends on which contents are asked for.
    """
    wanted, unwanted, splits = set(contents), set(exclude), set(splits)
    clips = []
    for source in split_sources(list_sources(paths))[0]:
        if source.split not in splits:
            continue
        content = source.source.labels().get("content")
        if (wanted and content not in wanted) or content in unwanted:
            continue
        for clip in read_source(source.source):
            if clip.duration >= MIN_SECONDS:
                clips.append(clip.remap(resolve_joint_map(clip.skeleton, skeleton, None, clip.source)))
    return clips


Method = Callable[[Clip, np.ndarray], ClipImputation]


def classical_methods() -> dict[str, Method]:
    return {name: (lambda clip, mask, name=name: fill_clip(clip, mask, name)) for name in FILLS}


def model_method(model: HGVAE, fallback_seconds: float, elbo_floor: float, smooth_seconds: float = 0.0) -> Method:
    """The HG-VAE as `motion impute` runs it: from the donor fill, onto the clip's bones, with the fallback rule."""
    return lambda clip, mask: impute_clip(
        model, clip, mask, start=BASE_FILL, keep_bones=True, fallback_seconds=fallback_seconds,
        elbo_floor=elbo_floor, smooth_seconds=smooth_seconds,
    )  # fmt: skip


def pooled(rows: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> dict[str, float]:
    """errors() over (estimate, truth, mask) of several clips, as if they were one."""
    estimate, truth, mask = (torch.from_numpy(np.concatenate(parts)) for parts in zip(*rows, strict=True))
    return errors(estimate, truth, mask)


def gap_filling_figures(
    clips: list[Clip], methods: dict[str, Method], seed: int = 0, examples: dict | None = None
) -> dict[str, dict]:
    """Errors of each method on each pattern, every method filling the same draws.

    Args:
        examples: if given, filled with one gap per pattern of whole joints, to plot
            (evaluation.plots.gap_examples): {pattern: {"seconds", "joint", "axis", "truth", method: curve}}.
    Returns:
        {pattern: {method: errors() pooled over the clips, ..., "clips": n, "best classical": name,
        "ratio": {method: its MSE / the best classical fill's}, "best tool fill": the best of TOOL_FILLS,
        "tool ratio": {method: its MSE / that one's}}}.
    """
    figures = {}
    for pattern in PATTERNS:
        generator = np.random.default_rng(seed)
        rows: dict[str, list] = {name: [] for name in methods}
        for clip in clips:
            mask = pattern_mask(pattern, clip, generator)
            gappy = replace(clip, positions=np.where(mask, np.nan, clip.positions).astype(np.float32))
            filled = {name: method(gappy, mask).positions for name, method in methods.items()}
            for name, positions in filled.items():
                rows[name].append((positions, clip.positions, mask))
            if examples is not None and pattern not in examples and not pattern.startswith("random"):
                examples[pattern] = example(clip, mask, filled)
        row = {name: pooled(parts) for name, parts in rows.items()}
        best, tool = (
            min((name for name in row if name in names), key=lambda name: row[name]["mse_cm2"])
            for names in (FILLS, TOOL_FILLS)
        )
        row["ratio"] = {name: row[name]["mse_cm2"] / row[best]["mse_cm2"] for name in methods}
        row["tool ratio"] = {name: row[name]["mse_cm2"] / row[tool]["mse_cm2"] for name in methods}
        figures[pattern] = row | {"clips": len(clips), "best classical": best, "best tool fill": tool}
    return figures


def example(clip: Clip, mask: np.ndarray, filled: dict[str, np.ndarray]) -> dict:
    """One lost joint of a gap, relative to the root (the motion a fill must find, not the travel it
    shares with the whole body), along the lost joint and axis of widest such motion over the gap, and
    half a second either side."""
    root = preset_roles(clip.skeleton.name)["root"]
    frames = np.flatnonzero(mask.any((1, 2)))
    lost = np.flatnonzero(mask[frames[0]].any(-1))
    relative = clip.positions[frames][:, lost] - clip.positions[frames][:, [root]]
    widest = np.ptp(relative, axis=0)  # (lost joints, 3)
    joint, axis = (int(i) for i in np.unravel_index(widest.argmax(), widest.shape))
    joint = int(lost[joint])
    margin = int(0.5 * clip.fps)
    span = slice(max(frames[0] - margin, 0), min(frames[-1] + 1 + margin, clip.frames))

    def curve(positions: np.ndarray) -> list[float]:
        return (positions[span, joint, axis] - positions[span, root, axis]).tolist()

    return {
        "seconds": (np.arange(span.start, span.stop) / clip.fps).tolist(),
        "gap": [frames[0] / clip.fps, frames[-1] / clip.fps],
        "joint": clip.skeleton.joints[joint],
        "root": clip.skeleton.joints[root],
        "axis": "xyz"[axis],
        "truth": curve(clip.positions),
    } | {name: curve(positions) for name, positions in filled.items()}


def fit_fallback(model: HGVAE, clips: list[Clip], seed: int = 1) -> dict:
    """The fallback rule fitted on (val) clips, never on the clips it is measured on.

    Gap length: a gap up to the threshold keeps the donor fill (motion.fills.donor_fill, the classical
    fill the model starts from), a longer one takes the model's, weighed by its probe as impute_clip
    weighs it (motion.impute.LearnedFill.compose). The model runs once per draw with every gap's probe
    hidden, and each threshold fits its weight on the probes of the gaps longer than it. That is how
    impute_clip runs at the threshold when a draw's gaps all have one length, as in the patterns of
    whole joints; where values are lost one by one, almost every gap is shorter than any threshold
    but 0. Each candidate is scored by its MSE relative to the donor fill alone, averaged over the
    patterns, so that scattered values, whose errors are millimetres, weigh as much as joints lost
    for seconds; the threshold is the largest
    whose score is within FALLBACK_MARGIN of the best, since a model that barely helps on val clips
    may well not help elsewhere. A threshold under which any one pattern scores over 1 + PATTERN_MARGIN
    is not chosen: the fill must never be much worse than the donor fill, and a gain on some patterns
    does not pay for a loss on another.

    ELBO floor: the lowest ELBO of any window the model imputed on these clips (of its start, the
    donor fill). A window below it is less likely than everything the rule was fitted on, so it
    keeps the donor fill. On the val clips' own fills the floor changes nothing; their probes' fills,
    which hide more, may have windows under it.

    Smoothing: then, given the threshold, fit_smoothing.

    Returns:
        {"seconds": the threshold (inf: the model never helps), "relative_mse": {threshold: score},
        "worst_relative_mse": {threshold: the highest score of any one pattern}, "pattern_margin",
        "elbo_floor": nats per window, "fill": the fill it was fitted against (BASE_FILL), "smooth_seconds",
        "smooth_relative_mse": {smoothing: score}}.
    """
    candidates = (*FALLBACK_CANDIDATES, math.inf)
    scores = {seconds: [] for seconds in candidates}
    floor = math.inf
    draws = []  # (truth on the model's joints, learned fill, pattern index): for the smoothing fit
    for index, pattern in enumerate(PATTERNS):
        generator = np.random.default_rng(seed)
        squared = dict.fromkeys(candidates, 0.0)
        for clip in clips:
            mask = pattern_mask(pattern, clip, generator)
            gappy = replace(clip, positions=np.where(mask, np.nan, clip.positions).astype(np.float32))
            fill = learned_fill(
                model, gappy, mask, MapSearch(start=BASE_FILL), fallback_seconds=0, elbo_floor=-math.inf
            )
            floor = min([floor, *fill.window_elbo])
            truth = clip.positions[:, fill.indices]
            draws.append((truth, fill, index))
            for seconds in candidates:
                estimate, _ = fill.compose(seconds, True)
                squared[seconds] += float(((estimate - truth)[fill.hole] ** 2).sum())
        for seconds in candidates:
            scores[seconds].append(squared[seconds] / max(squared[math.inf], 1e-12))
    mean = {seconds: float(np.mean(values)) for seconds, values in scores.items()}
    worst = {seconds: float(np.max(values)) for seconds, values in scores.items()}
    admitted = {seconds: score for seconds, score in mean.items() if worst[seconds] <= 1 + PATTERN_MARGIN}
    best = min(admitted.values())  # infinity always scores 1 on every pattern
    chosen = max(seconds for seconds, score in admitted.items() if score <= best * (1 + FALLBACK_MARGIN))
    smoothing = fit_smoothing(draws, chosen)
    return {
        "seconds": chosen, "relative_mse": mean, "worst_relative_mse": worst, "pattern_margin": PATTERN_MARGIN,
        "elbo_floor": floor, "fill": BASE_FILL, "probe": True,
    } | smoothing  # fmt: skip


def fit_smoothing(draws: list[tuple], seconds: float) -> dict:
    """The smoothing of the learned fill (compose_fill's smooth_seconds) of lowest MSE relative to the
    donor fill, averaged over the patterns, given the fallback threshold: among SMOOTH_CANDIDATES, and
    as for the threshold, none under which a pattern scores over 1 + PATTERN_MARGIN (none smooths)."""
    squared = {smooth: np.zeros(len(PATTERNS)) for smooth in SMOOTH_CANDIDATES}
    reference = np.zeros(len(PATTERNS))
    for truth, fill, index in draws:
        reference[index] += float(((fill.classical - truth)[fill.hole] ** 2).sum())
        for smooth in SMOOTH_CANDIDATES:
            estimate, _ = fill.compose(seconds, True, smooth)
            squared[smooth][index] += float(((estimate - truth)[fill.hole] ** 2).sum())
    relative = {smooth: values / np.maximum(reference, 1e-12) for smooth, values in squared.items()}
    scores = {smooth: float(np.mean(values)) for smooth, values in relative.items()}
    admitted = [smooth for smooth in SMOOTH_CANDIDATES if smooth == 0 or relative[smooth].max() <= 1 + PATTERN_MARGIN]
    return {"smooth_seconds": min(admitted, key=lambda smooth: (scores[smooth], smooth)), "smooth_relative_mse": scores}
