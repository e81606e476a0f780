"""IK tasks as the vectors a DRMM models, and solving them by conditioned DRMM sampling (DRMM paper, Sec. 4.1).

A task turns a configuration (root and joint parameters) into an observation vector that
holds the configuration itself and everything a goal can name (end points, centre of mass,
orientation). A DRMM trained once on random observations then solves any IK problem by
sampling the configuration part conditioned on any subset of the rest, with Gaussian priors
and inequality constraints (`DrmmIK.solve`).

The DRMM works on standardised vectors (each variable less its mean, over its sd, measured on
the training data and stored in the checkpoint): its layers have one isotropic sigma each, so
without this the variables with the largest ranges (angles of up to 6 rad) would take the
model's precision from the goals (positions within a metre).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from motion.checkpoint import load_checkpoint
from motion.errors import InputError
from motion.ik import humanoid2d, panda
from motion.models.conditions import Condition
from motion.models.drmm import DRMM


@dataclass(frozen=True)
class IKTask:
    """One IK problem family.

    Attributes:
        name: "humanoid2d" or "panda".
        variables: the names of an observation vector's entries, in order.
        configuration_size: the first `configuration_size` variables are the configuration.
        random_configurations: (count, generator) -> (count, configuration_size) uniform draws.
        observe: (..., configuration_size) -> (..., len(variables)) observation vectors.
        limits: () -> (low, high), each (configuration_size,): the configuration's ranges.
    """

    name: str
    variables: tuple[str, ...]
    configuration_size: int
    random_configurations: Callable[[int, torch.Generator | None], Tensor]
    observe: Callable[[Tensor], Tensor]
    limits: Callable[[], tuple[Tensor, Tensor]]

    def index(self, name: str) -> int:
        """Position of a named variable; InputError listing the names when there is none."""
        if name not in self.variables:
            raise InputError(f"{self.name}: no variable {name!r}; it has {', '.join(self.variables)}")
        return self.variables.index(name)

    def random_observations(self, count: int, generator: torch.Generator | None = None) -> Tensor:
        """(count, len(variables)) observations of uniform random configurations."""
        return self.observe(self.random_configurations(count, generator))


def panda_observe(angles: Tensor) -> Tensor:
    """(..., 19): the 7 joint angles (rad), the flange position (m) and its rotation matrix, row-major."""
    return torch.cat([angles, panda.flange_pose(angles)], -1)


TASKS = {
    "humanoid2d": IKTask(
        "humanoid2d",
        humanoid2d.VARIABLES,
        len(humanoid2d.CONFIGURATION),
        humanoid2d.random_configurations,
        humanoid2d.observe,
        humanoid2d.configuration_limits,
    ),
    "panda": IKTask(
        "panda",
        tuple(f"q{joint + 1}" for joint in range(panda.JOINTS))
        + ("x", "y", "z")
        + tuple(f"r{row}{column}" for row in range(3) for column in range(3)),
        panda.JOINTS,
        panda.random_configurations,
        panda_observe,
        panda.joint_limits,
    ),
}


def ik_task(name: str) -> IKTask:
    """The task of that name; InputError naming the known ones."""
    if name not in TASKS:
        raise InputError(f"unknown IK task {name!r}; known: {', '.join(TASKS)}")
    return TASKS[name]


@dataclass(frozen=True)
class Solutions:
    """Ranked solutions of a batch of IK problems.

    Attributes:
        observations: (problems, kept, variables) the sampled vectors, most likely first, in the
            task's units; the configuration is their first `configuration_size` entries.
        log_likelihood: (problems, kept) the DRMM's estimate of each sample's conditions, nats.
    """

    observations: Tensor
    log_likelihood: Tensor


class DrmmIK:
    """A DRMM trained on a task's random observations, with the task and the standardisation.

    Attributes:
        model: the DRMM (on standardised vectors).
        task: its IKTask.
        mean, sd: (variables,) the standardisation, in the task's units.
    """

    def __init__(self, model: DRMM, task: IKTask, mean: Tensor, sd: Tensor) -> None:
        self.model, self.task = model, task
        self.mean, self.sd = mean.to(model.means[0].device), sd.to(model.means[0].device)

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device = "cpu") -> DrmmIK:
        """A DRMM IK model written by `training.train_ik_drmm` (weights_only loading).

        Raises:
            InputError: not a DRMM checkpoint, or one not trained on an IK task.
        """
        recipe = load_checkpoint(path, "drmm").get("recipe") or {}
        if "ik_task" not in recipe:
            raise InputError(f"{path}: a DRMM not trained on an IK task (train one with `motion train ik`)")
        model = DRMM.load(path, device)
        return cls(model, ik_task(recipe["ik_task"]), torch.tensor(recipe["mean"]), torch.tensor(recipe["sd"]))

    def standardise(self, observations: Tensor) -> Tensor:
        return (observations.to(self.mean.device) - self.mean) / self.sd

    def condition(
        self,
        goals: Mapping[str, float] | Tensor,
        above: Mapping[str, float] | None = None,
        below: Mapping[str, float] | None = None,
        weight: float = 1.0,
    ) -> Condition:
        """The DRMM condition for goals and bounds given in the task's units, with box constraints
        (Sec. 3.5) on the configuration's limits: they weigh the components toward configurations
        within them, which most samples then are (90-95 % in benchmarks/ik.py), not all.

        Args:
            goals: {variable: value}, or (problems, variables) values with NaN where unknown.
            above, below: {variable: bound}: the variable must stay above / below it.
            weight: the multiplier of every inequality (the reference's Fig. 6 uses 1-3).
        """
        variables = len(self.task.variables)
        if isinstance(goals, Tensor):
            values = self.standardise(goals)
        else:
            values = torch.full((variables,), float("nan"), device=self.mean.device)
            for name, value in goals.items():
                index = self.task.index(name)
                values[index] = (value - self.mean[index]) / self.sd[index]
        normals, offsets = [], []
        for bounds, sign in ((above or {}, 1.0), (below or {}, -1.0)):
            for name, bound in bounds.items():
                index = self.task.index(name)
                # sign * (x - bound) > 0 with x = mean + sd * z: a unit normal on z after scaling.
                normal = torch.zeros(variables)
                normal[index] = sign * float(self.sd[index])
                normals.append(normal)
                offsets.append(sign * (float(self.mean[index]) - bound))
        low, high = (limit.to(self.mean.device) for limit in self.task.limits())
        size = self.task.configuration_size
        box_min = torch.full((variables,), float("nan"), device=self.mean.device)
        box_max = box_min.clone()
        box_min[:size] = (low - self.mean[:size]) / self.sd[:size]
        box_max[:size] = (high - self.mean[:size]) / self.sd[:size]
        inequalities = {}
        if normals:
            inequalities = {
                "inequality_a": torch.stack(normals),
                "inequality_b": torch.tensor(offsets),
                "inequality_weight": torch.full((len(normals),), weight),
            }
        return Condition(values=values, box_min=box_min, box_max=box_max, **inequalities)

    def solve(
        self,
        goals: Mapping[str, float] | Tensor,
        above: Mapping[str, float] | None = None,
        below: Mapping[str, float] | None = None,
        *,
        samples: int = 64,
        keep: int = 10,
        weight: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> Solutions:
        """Sample `samples` solutions per problem and keep the `keep` most likely (the paper's 64 and 10).

        Returns:
            Solutions with a problem axis (1 for goals given as a mapping).
        """
        if not 1 <= keep <= samples:
            raise InputError(f"keep: must be between 1 and samples ({samples}), got {keep}")
        condition = self.condition(goals, above, below, weight)
        drawn = self.model.sample(samples, condition, generator=generator)
        observations, log_likelihood = drawn.samples, drawn.log_likelihood
        if observations.ndim == 2:
            observations, log_likelihood = observations[None], log_likelihood[None]
        observations = self.mean + self.sd * observations[:, :keep]
        return Solutions(observations, log_likelihood[:, :keep])


def standardisation(observations: Tensor) -> tuple[Tensor, Tensor]:
    """(mean, sd), each (variables,), of training observations; constant variables get sd 1."""
    mean, sd = observations.mean(0), observations.std(0)
    return mean, torch.where(sd > 1e-9, sd, torch.ones_like(sd))
