"""Posing figures on held-out poses: targets taken from real test poses, the DRMM's kept poses against
the real ones, before and after refinement, beside the nearest training pose (what a user with a
pose library already has)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch import Tensor

from motion.models import DRMM
from motion.posing import Poses, refine_poses, sample_poses
from motion.skeleton import Skeleton


@dataclass(frozen=True)
class PosingScenario:
    """Which joints of a real pose become targets, and which bound applies.

    Attributes:
        name: for the table.
        targets: joints whose real positions are the targets.
        ceiling: joint kept under its real height less `drop` metres (None: no bound).
    """

    name: str
    targets: tuple[str, ...]
    ceiling: str | None = None
    drop: float = 0.1


POSING_SCENARIOS = (
    PosingScenario("both hands", ("left_hand", "right_hand")),
    PosingScenario("hands and feet", ("left_hand", "right_hand", "left_foot", "right_foot")),
    PosingScenario("feet, head 10 cm lower", ("left_foot", "right_foot"), ceiling="head"),
)


@dataclass(frozen=True)
class PosingFigures:
    """Means over test poses and kept poses.

    Attributes:
        target_mm, refined_target_mm: distance of each target joint to its target before / after refinement.
        others_mm: distance of the other joints to the real pose after refinement, best pose and all kept.
        bound_met: fraction of kept poses meeting the bound after refinement (1 without one).
        log_likelihood: the DRMM's log p of the refined best poses, nats (real test poses: see `real_log_likelihood`).
        ms_per_call: median time of one 64-sample call (the nearest-pose search's for the baseline).
    """

    target_mm: float
    refined_target_mm: float
    others_best_mm: float
    others_kept_mm: float
    bound_met: float
    log_likelihood: float
    ms_per_call: float


def nearest_poses(library: Tensor, skeleton: Skeleton, targets: dict[str, tuple], keep: int) -> Poses:
    """The `keep` library poses whose target joints lie nearest the targets (sum of squared distances).

    Args:
        library: (poses, joints, 3) training poses in the pose frame.
    """
    index = [skeleton.index(name) for name in targets]
    goal = torch.tensor([targets[name] for name in targets])
    distance = (library[:, index] - goal).pow(2).sum((-1, -2))
    order = distance.topk(keep, largest=False).indices
    return Poses(library[order], -distance[order], skeleton)


def posing_figures(
    model: DRMM,
    real: Tensor,
    scenario: PosingScenario,
    library: Tensor | None = None,
    keep: int = 10,
    seed: int = 0,
) -> PosingFigures:
    """Figures for the DRMM (library None) or for the nearest library poses, over `real` (N, joints, 3)."""
    skeleton = model.metadata.skeleton
    target_index = [skeleton.index(name) for name in scenario.targets]
    others = [j for j in range(len(skeleton)) if j not in target_index]
    generator = torch.Generator().manual_seed(seed)
    sums = {name: [] for name in ("target", "refined", "best", "kept", "bound")}
    best_poses, times = [], []
    for pose in real:
        targets = {name: tuple(pose[skeleton.index(name)].tolist()) for name in scenario.targets}
        below = {}
        if scenario.ceiling is not None:
            below[scenario.ceiling] = float(pose[skeleton.index(scenario.ceiling), 2]) - scenario.drop
        began = time.perf_counter()
        if library is None:
            poses = sample_poses(model, targets, below, samples=64, keep=keep, generator=generator)
        else:
            poses = nearest_poses(library, skeleton, targets, keep)
        times.append(time.perf_counter() - began)
        refined = refine_poses(poses, targets, below)
        goal = pose[target_index]
        sums["target"].append((poses.positions[:, target_index] - goal).norm(dim=-1).mean())
        sums["refined"].append((refined.positions[:, target_index] - goal).norm(dim=-1).mean())
        distance = (refined.positions[:, others] - pose[others]).norm(dim=-1).mean(-1)  # (kept,)
        sums["best"].append(distance[0])
        sums["kept"].append(distance.mean())
        if below:
            joint, height = next(iter(below.items()))
            sums["bound"].append((refined.positions[:, skeleton.index(joint), 2] < height + 1e-3).float().mean())
        else:
            sums["bound"].append(torch.tensor(1.0))
        best_poses.append(refined.positions[0])
    times.sort()
    log_likelihood = model.log_likelihood(torch.stack(best_poses).reshape(len(best_poses), -1), passes=32)
    return PosingFigures(
        target_mm=1000 * torch.stack(sums["target"]).mean().item(),
        refined_target_mm=1000 * torch.stack(sums["refined"]).mean().item(),
        others_best_mm=1000 * torch.stack(sums["best"]).mean().item(),
        others_kept_mm=1000 * torch.stack(sums["kept"]).mean().item(),
        bound_met=torch.stack(sums["bound"]).mean().item(),
        log_likelihood=log_likelihood.mean().item(),
        ms_per_call=1000 * times[len(times) // 2],
    )


def real_log_likelihood(model: DRMM, real: Tensor) -> float:
    """The DRMM's mean log p of real poses (N, joints, 3), nats: what natural poses score."""
    return model.log_likelihood(real.reshape(len(real), -1), passes=32).mean().item()
