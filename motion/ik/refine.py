"""Damped-least-squares IK refinement, warm-started from sampled solutions (the aVIPS thesis's Table 5.3 setting).

Each step solves (J^T J + lambda^2 I) dq = -J^T r for the residual r(q) of every configuration at
once (J from torch.func, batched with vmap), then clips q to the joint limits. A configuration
stops moving once it has converged, so `steps` counts the updates each one needed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.func import jacrev, vmap

from motion.ik import panda

# A rotation error of 1 rad weighs as much as a position error of ROTATION_LENGTH metres.
ROTATION_LENGTH = 0.1


@dataclass(frozen=True)
class Refinement:
    """What refinement did, per configuration.

    Attributes:
        configuration: (N, n) the refined configurations.
        converged: (N,) bool, whether `done` held within the step budget.
        steps: (N,) int64 updates taken until convergence (the budget for those that did not).
    """

    configuration: Tensor
    converged: Tensor
    steps: Tensor


def damped_least_squares(
    configuration: Tensor,
    context: Tensor,
    residual: Callable[[Tensor, Tensor], Tensor],
    done: Callable[[Tensor, Tensor], Tensor],
    lower: Tensor | None = None,
    upper: Tensor | None = None,
    *,
    damping: float = 0.01,
    max_steps: int = 100,
) -> Refinement:
    """Refine configurations until `done` holds or `max_steps` updates were taken.

    Args:
        configuration: (N, n) starting configurations.
        context: (N, c) what each configuration's residual also depends on (its target).
        residual: ((n,), (c,)) -> (m,) the residual of one configuration (vmap batches it).
        done: ((N, n), (N, c)) -> (N,) bool, whether each configuration is solved.
        lower, upper: (n,) joint limits the updates are clipped to; None: unbounded.
        damping: lambda, in the residual's units.
        max_steps: the step budget.
    """
    q = configuration.detach().clone()
    jacobian, batched_residual = vmap(jacrev(residual)), vmap(residual)
    steps = torch.zeros(len(q), dtype=torch.long, device=q.device)
    converged = done(q, context)
    eye = torch.eye(q.shape[1], device=q.device, dtype=q.dtype)
    for _ in range(max_steps):
        active = ~converged
        if not active.any():
            break
        q_active, context_active = q[active], context[active]
        J = jacobian(q_active, context_active)  # (A, m, n)
        r = batched_residual(q_active, context_active)  # (A, m)
        normal = J.transpose(1, 2) @ J + damping**2 * eye
        q_active = q_active + torch.linalg.solve(normal, -(J.transpose(1, 2) @ r[..., None]))[..., 0]
        if lower is not None:
            q_active = torch.maximum(torch.minimum(q_active, upper), lower)
        q[active] = q_active
        steps[active] += 1
        converged = converged | done(q, context)
    return Refinement(q, converged, steps)


def rotation_residual(rotation: Tensor, target_rotation: Tensor) -> Tensor:
    """(..., 3) axis x angle of the turn from the target orientation to `rotation` (the log map; zero
    when equal), so a sample far off is pulled as hard as its angle says.

    Numerics: the axis comes from the skew part, sin(angle) x axis, rescaled by angle / sin(angle);
    sin is floored at 1e-3, so within 0.06 degrees of a half turn the residual shrinks toward the
    skew part (which vanishes at exactly 180 degrees, where the axis is undefined).
    """
    relative = target_rotation.transpose(-1, -2) @ rotation
    skew = 0.5 * (relative - relative.transpose(-1, -2))
    sine_axis = torch.stack([skew[..., 2, 1], skew[..., 0, 2], skew[..., 1, 0]], -1)
    cosine = ((relative.diagonal(dim1=-2, dim2=-1).sum(-1) - 1) / 2).clamp(-1.0, 1.0)
    angle = torch.atan2(sine_axis.norm(dim=-1), cosine)
    scale = torch.where(angle < 1e-4, 1.0, angle / torch.sin(angle).clamp_min(1e-3))
    return sine_axis * scale[..., None]


def refine_panda(
    angles: Tensor,
    target_position: Tensor,
    target_rotation: Tensor,
    *,
    position_tolerance: float = 1e-3,
    rotation_tolerance: float = math.radians(1.0),
    damping: float = 0.01,
    max_steps: int = 100,
) -> Refinement:
    """Refine Panda joint angles onto their targets.

    Args:
        angles: (N, 7) starting joint angles, radians.
        target_position: (N, 3) metres; target_rotation: (N, 3, 3).
        position_tolerance, rotation_tolerance: success: within 1 mm and 1 degree by default.
    """
    targets = torch.cat([target_position, target_rotation.flatten(-2)], -1)  # (N, 12)

    def residual(q: Tensor, target: Tensor) -> Tensor:
        position, rotation = panda.forward_kinematics(q)
        rotation_error = rotation_residual(rotation, target[3:].reshape(3, 3))
        return torch.cat([position - target[:3], ROTATION_LENGTH * rotation_error])

    def done(q: Tensor, target: Tensor) -> Tensor:
        position, rotation = panda.forward_kinematics(q)
        position_error, rotation_error = panda.pose_errors(
            position, rotation, target[:, :3], target[:, 3:].reshape(-1, 3, 3)
        )
        return (position_error <= position_tolerance) & (rotation_error <= rotation_tolerance)

    lower, upper = (limit.to(angles.device) for limit in panda.joint_limits())
    return damped_least_squares(angles, targets, residual, done, lower, upper, damping=damping, max_steps=max_steps)
