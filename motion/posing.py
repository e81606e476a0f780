"""Full-body posing with a DRMM trained on single-frame poses (`motion preprocess --kind poses`): goals
for any joints and bounds on their heights in, the most likely natural poses out, optionally refined
onto the goals exactly.

Coordinates are the poses' own frame, as preprocessing normalises them: the root projected on the
floor at the origin, the character facing +x, z up, metres.

Refinement moves each sampled pose onto its goals with the rest of the body close to the sample:
it minimises, over joint positions, the squared distance to the sample plus stiff penalties on the
goals, on every bone's change of length (its median length over the poses, so all share one
skeleton) and on bounds violated, by
L-BFGS, then repeats with the penalties ten times stiffer until the goals are met to within
`GOAL_TOLERANCE` (a few rounds).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from motion.atomic import atomic_path
from motion.clip import Clip
from motion.conventions import UP_AXIS
from motion.errors import InputError
from motion.layout import POSE_AXES, WindowLayout
from motion.models.conditions import Condition
from motion.models.drmm import DRMM, eager_terms
from motion.skeleton import Skeleton

GOAL_TOLERANCE = 5e-4  # metres: refinement stops once every goal is this close
BOUND_WEIGHT = 3.0  # the inequality multiplier (the reference's Fig. 6 uses 3 for its ceiling)
Point = tuple[float, float, float]


@dataclass(frozen=True)
class Poses:
    """Ranked poses.

    Attributes:
        positions: (poses, joints, 3) metres, Z-up, in the pose frame; most likely first.
        log_likelihood: (poses,) the DRMM's estimate of each pose's goals and bounds, nats.
        skeleton: the joints.
    """

    positions: Tensor
    log_likelihood: Tensor
    skeleton: Skeleton


def pose_skeleton(model: DRMM) -> Skeleton:
    """The skeleton of a pose model; InputError for a DRMM not trained on poses."""
    metadata = model.metadata
    layout = None if metadata is None else metadata.layout
    if not isinstance(layout, WindowLayout) or layout.frames != 1:
        raise InputError(
            "the model was not trained on poses (`motion preprocess --kind poses`, then `motion train drmm`)"
        )
    return metadata.skeleton


def _joint(skeleton: Skeleton, name: str) -> int:
    if name not in skeleton.joints:
        raise InputError(f"unknown joint {name!r}; the model's joints: {', '.join(skeleton.joints)}")
    return skeleton.index(name)


def pose_condition(
    skeleton: Skeleton,
    goals: Mapping[str, Point],
    below: Mapping[str, float] | None = None,
    above: Mapping[str, float] | None = None,
    weight: float = BOUND_WEIGHT,
) -> Condition:
    """The DRMM condition: each goal joint's (x, y, z) known, each bound an inequality on its height."""
    dim = len(skeleton) * POSE_AXES
    values = torch.full((dim,), float("nan"))
    for name, point in goals.items():
        start = _joint(skeleton, name) * POSE_AXES
        values[start : start + POSE_AXES] = torch.tensor(point, dtype=torch.float32)
    normals, offsets = [], []
    for bounds, sign in ((above or {}, 1.0), (below or {}, -1.0)):
        for name, height in bounds.items():
            normal = torch.zeros(dim)
            normal[_joint(skeleton, name) * POSE_AXES + UP_AXIS] = sign
            normals.append(normal)
            offsets.append(-sign * height)  # sign * (z - height) > 0
    if not normals:
        return Condition(values=values)
    return Condition(
        values=values,
        inequality_a=torch.stack(normals),
        inequality_b=torch.tensor(offsets),
        inequality_weight=torch.full((len(normals),), weight),
    )


def sample_poses(
    model: DRMM,
    goals: Mapping[str, Point],
    below: Mapping[str, float] | None = None,
    above: Mapping[str, float] | None = None,
    *,
    samples: int = 64,
    keep: int = 10,
    weight: float = BOUND_WEIGHT,
    generator: torch.Generator | None = None,
) -> Poses:
    """Draw `samples` poses toward the goals and bounds and keep the `keep` most likely distinct ones
    (fewer when fewer are distinct).

    Every joint of a sample is the DRMM's reconstruction, so the goal joints lie near their goals
    (millimetres to centimetres) and the bounds hold mostly; `refine_poses` makes both exact.
    """
    if not 1 <= keep <= samples:
        raise InputError(f"keep: must be between 1 and samples ({samples}), got {keep}")
    skeleton = pose_skeleton(model)
    condition = pose_condition(skeleton, goals, below, above, weight)
    with eager_terms():  # one call: compiling the bound terms would take longer than evaluating them
        drawn = model.sample(samples, condition, generator=generator)
    # Samples on the same latent path are the same pose: keep the most likely of each, in order.
    _, inverse = torch.unique(drawn.samples, dim=0, return_inverse=True)
    first = torch.full((int(inverse.max()) + 1,), samples, dtype=torch.long)
    first.scatter_reduce_(0, inverse, torch.arange(samples), reduce="amin")
    order = first.sort().values[:keep]
    positions = drawn.samples[order].reshape(len(order), len(skeleton), POSE_AXES)
    return Poses(positions, drawn.log_likelihood[order], skeleton)


def refine_poses(
    poses: Poses,
    goals: Mapping[str, Point],
    below: Mapping[str, float] | None = None,
    above: Mapping[str, float] | None = None,
    *,
    max_rounds: int = 6,
) -> Poses:
    """Move each pose onto its goals (within GOAL_TOLERANCE), on one skeleton (each bone at its median
    length over the poses), staying near the sample."""
    skeleton = poses.skeleton
    sample = poses.positions.detach().double()
    parents = torch.tensor(skeleton.parents)
    child = torch.nonzero(parents >= 0).squeeze(1)
    # One skeleton for all: each bone at its median length over the poses, so that a BVH of them
    # (one rig) reproduces them exactly.
    lengths = (sample[:, child] - sample[:, parents[child]]).norm(dim=-1).median(0).values  # (bones,)
    goal_index = torch.tensor([_joint(skeleton, name) for name in goals], dtype=torch.long)
    goal_points = torch.tensor([goals[name] for name in goals], dtype=torch.float64).reshape(-1, POSE_AXES)
    bounds = [(_joint(skeleton, name), height, -1.0) for name, height in (below or {}).items()]
    bounds += [(_joint(skeleton, name), height, 1.0) for name, height in (above or {}).items()]
    positions = sample.clone().requires_grad_(True)
    stiffness = 1e3
    for _ in range(max_rounds):
        optimizer = torch.optim.LBFGS([positions], max_iter=200, line_search_fn="strong_wolfe", tolerance_grad=1e-12)

        def energy(optimizer=optimizer, stiffness=stiffness) -> Tensor:
            optimizer.zero_grad()
            bone = (positions[:, child] - positions[:, parents[child]]).norm(dim=-1)
            penalty = (bone - lengths).pow(2).sum()
            if len(goal_index):
                penalty = penalty + (positions[:, goal_index] - goal_points).pow(2).sum()
            for joint, height, sign in bounds:
                penalty = penalty + torch.relu(-sign * (positions[:, joint, UP_AXIS] - height)).pow(2).sum()
            value = (positions - sample).pow(2).sum() + stiffness * penalty
            value.backward()
            return value

        optimizer.step(energy)
        if not len(goal_index):
            break
        with torch.no_grad():
            if (positions[:, goal_index] - goal_points).norm(dim=-1).max() < GOAL_TOLERANCE:
                break
        stiffness *= 10
    return Poses(positions.detach().float(), poses.log_likelihood, skeleton)


def write_pose_csv(poses: Poses, path: str | Path) -> None:
    """One row per pose, best first: `rank`, `log_likelihood` (nats: the sample's estimate, from before
    any refinement), then `<joint>_x,_y,_z` in metres, Z-up, the pose frame; written atomically."""
    columns = [f"{joint}_{axis}" for joint in poses.skeleton.joints for axis in "xyz"]
    table = pd.DataFrame(poses.positions.reshape(len(poses.positions), -1).double().numpy(), columns=columns)
    table.insert(0, "log_likelihood", poses.log_likelihood.double().numpy())
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    with atomic_path(path) as temporary:
        table.to_csv(temporary, index=False, float_format="%.6f", lineterminator="\n")


def poses_as_clip(poses: Poses, fps: float = 1.0) -> Clip:
    """The poses as a clip, one frame each (a BVH viewer steps through them at `fps`)."""
    return Clip(poses.positions.numpy().astype(np.float32), poses.skeleton, fps, "motion pose", "poses")
