"""Unnormalised IK target densities over configurations given a context, for variational inference
(aVIPS and its baselines): the Panda arm's (the aVIPS thesis's Sec. 5.1, after Pignat et al.) and the
2-D humanoid's with a ceiling.

Each is a product of experts: Gaussians around the goals, and the joint-limit expert, the
probability that a Gaussian centred at the configuration lands inside the limits. The thesis
prints none of the widths; these are ours.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from motion.ik import humanoid2d, panda

LIMIT_SD = 0.02  # radians (and metres for the humanoid's root): the joint-limit expert's Gaussian


def limit_log_mass(configuration: Tensor, lower: Tensor, upper: Tensor, sd: float = LIMIT_SD) -> Tensor:
    """(...) sum over variables of log P(lower < N(x, sd^2) < upper): ~0 inside, falling outside."""
    normal = torch.distributions.Normal(0.0, sd)
    mass = normal.cdf(upper.to(configuration.device) - configuration) - normal.cdf(
        lower.to(configuration.device) - configuration
    )
    return torch.log(mass.clamp_min(1e-30)).sum(-1)


@dataclass(frozen=True)
class PandaTarget:
    """Panda IK: a Gaussian around the goal position, one over the geodesic distance to the goal
    rotation, and the joint-limit expert. Context: the goal position (m) and row-major rotation (12)."""

    position_sd: float = 0.005  # metres
    rotation_sd: float = math.radians(2.0)
    name = "panda"
    error_names = ("position_mm", "rotation_deg")
    dim = panda.JOINTS
    context_dim = 12  # as the thesis's parameter counts imply

    @staticmethod
    def limits() -> tuple[Tensor, Tensor]:
        return panda.joint_limits()

    @staticmethod
    def random_configurations(count: int, generator: torch.Generator | None = None) -> Tensor:
        return panda.random_configurations(count, generator)

    @staticmethod
    def contexts(angles: Tensor, generator: torch.Generator | None = None) -> Tensor:  # noqa: ARG004
        """(..., 12) the flange pose of joint angles (..., 7): panda.flange_pose."""
        return panda.flange_pose(angles)

    def log_density(self, angles: Tensor, context: Tensor) -> Tensor:
        """log p~(q | z) for angles (..., 7) and contexts (..., 12), broadcastable; nats, up to a constant."""
        position, rotation = panda.forward_kinematics(angles)
        target_rotation = context[..., 3:].unflatten(-1, (3, 3))
        position_error = (position - context[..., :3]).pow(2).sum(-1)
        relative = target_rotation.transpose(-1, -2) @ rotation
        cosine = ((relative.diagonal(dim1=-2, dim2=-1).sum(-1) - 1) / 2).clamp(-1 + 1e-6, 1 - 1e-6)
        rotation_error = torch.acos(cosine)  # clamped: acos is steep at +-1
        lower, upper = panda.joint_limits()
        return (
            -0.5 * position_error / self.position_sd**2
            - 0.5 * rotation_error.pow(2) / self.rotation_sd**2
            + limit_log_mass(angles, lower, upper)
        )

    @staticmethod
    def errors(angles: Tensor, context: Tensor) -> dict[str, Tensor]:
        """Per sample: position error (mm) and rotation error (degrees)."""
        position, rotation = panda.forward_kinematics(angles)
        position_error, rotation_error = panda.pose_errors(
            position, rotation, context[..., :3], context[..., 3:].unflatten(-1, (3, 3))
        )
        return {"position_mm": 1000 * position_error, "rotation_deg": torch.rad2deg(rotation_error)}


def end_point_heights(observation: Tensor) -> Tensor:
    """(..., 5) the heights (y, metres) of the humanoid's end points, humanoid2d.END_POINTS order."""
    return torch.stack([observation[..., humanoid2d.variable(f"{point}_y")] for point in humanoid2d.END_POINTS], -1)


HUMANOID_GOALS = ("r_hand", "l_foot", "r_foot")  # the reference's Fig. 6 goals
NO_CEILING = 3.0  # metres: above anything the humanoid reaches (1.75 m), for contexts without a ceiling


@dataclass(frozen=True)
class HumanoidTarget:
    """The 2-D humanoid with goals for the right hand and both feet and a ceiling over every end
    point (the DRMM paper's Fig. 6 panels 2-3): Gaussians around the goals, a soft ceiling (log of
    the normal CDF of the clearance), and the joint-limit expert.
    Context (7): the goals' (x, y) in HUMANOID_GOALS order, then the ceiling height (NO_CEILING: none)."""

    goal_sd: float = 0.01  # metres
    ceiling_sd: float = 0.01  # metres
    name = "humanoid2d"
    error_names = ("goal_mm", "under_ceiling")
    dim = len(humanoid2d.CONFIGURATION)
    context_dim = 2 * len(HUMANOID_GOALS) + 1

    @staticmethod
    def limits() -> tuple[Tensor, Tensor]:
        return humanoid2d.configuration_limits()

    @staticmethod
    def random_configurations(count: int, generator: torch.Generator | None = None) -> Tensor:
        return humanoid2d.random_configurations(count, generator)

    @staticmethod
    def contexts(configuration: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Goals where the configurations put them; half of them with a ceiling from 0 to 0.3 m over
        their highest end point (so the configuration meets it), half without."""
        observation = humanoid2d.observe(configuration)
        goals = [observation[..., humanoid2d.point_slice(point)] for point in HUMANOID_GOALS]
        highest = end_point_heights(observation).amax(-1)
        draw = torch.rand(highest.shape + (2,), generator=generator, device=configuration.device)
        ceiling = torch.where(draw[..., 0] < 0.5, highest + 0.3 * draw[..., 1], NO_CEILING)
        return torch.cat([*goals, ceiling[..., None]], -1)

    def log_density(self, configuration: Tensor, context: Tensor) -> Tensor:
        """log p~(x | z) for configurations (..., 13) and contexts (..., 7), broadcastable; nats."""
        observation = humanoid2d.observe(configuration)
        total = 0.0
        for index, point in enumerate(HUMANOID_GOALS):
            offset = observation[..., humanoid2d.point_slice(point)] - context[..., 2 * index : 2 * index + 2]
            total = total - 0.5 * offset.pow(2).sum(-1) / self.goal_sd**2
        clearance = context[..., -1:] - end_point_heights(observation)
        normal = torch.distributions.Normal(0.0, self.ceiling_sd)
        total = total + torch.log(normal.cdf(clearance).clamp_min(1e-30)).sum(-1)
        lower, upper = humanoid2d.configuration_limits()
        return total + limit_log_mass(configuration, lower, upper)

    @staticmethod
    def errors(configuration: Tensor, context: Tensor) -> dict[str, Tensor]:
        """Per sample: the mean goal error (mm) and whether every end point is under the ceiling."""
        observation = humanoid2d.observe(configuration)
        error = torch.stack(
            [
                (observation[..., humanoid2d.point_slice(point)] - context[..., 2 * i : 2 * i + 2]).norm(dim=-1)
                for i, point in enumerate(HUMANOID_GOALS)
            ],
            -1,
        ).mean(-1)
        heights = end_point_heights(observation)
        return {"goal_mm": 1000 * error, "under_ceiling": (heights < context[..., -1:]).all(-1).float()}


TARGETS = {"panda": PandaTarget, "humanoid2d": HumanoidTarget}
