"""IK figures: Panda pose errors, diversity and refinement for any sampler (the aVIPS thesis's Tables 5.1
and 5.3 setting), the 2-D humanoid's goals and constraints (the DRMM paper's Fig. 6), and its drawing."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from torch import Tensor  # noqa: E402

from motion.ik import humanoid2d, panda  # noqa: E402
from motion.ik.refine import refine_panda  # noqa: E402
from motion.ik.targets import HUMANOID_GOALS, NO_CEILING  # noqa: E402
from motion.ik.tasks import DrmmIK  # noqa: E402
from motion.models.avips import AVIPS  # noqa: E402

# A Panda sampler: (targets (N, 12): position and row-major rotation, count) -> (N, count, 7) angles.
PandaSampler = Callable[[Tensor, int], Tensor]
# A humanoid sampler: (goals, above, below, samples, keep) -> (keep, 13) configurations, best first.
HumanoidSampler = Callable[[dict, dict, dict, int, int], Tensor]
THESIS_TABLE_5_1 = {  # Panda, as printed: position mm, rotation degrees, parameters (millions)
    "aVIPS": (5.60, 2.05, 26.13),
    "IKFlow": (7.72, 2.81, 50.93),
    "GMM": (5.80, 2.19, 27.83),
    "Gaussian": (10.75, 5.73, 9.52),
}


def panda_targets(count: int, seed: int) -> Tensor:
    """(count, 12) reachable targets: the flange poses of uniform random configurations."""
    return panda.flange_pose(panda.random_configurations(count, torch.Generator().manual_seed(seed)))


def drmm_panda_sampler(solver: DrmmIK, chunk: int = 512) -> PandaSampler:
    """Sample the DRMM conditioned on the target's 12 values (position and rotation)."""
    goal_columns = [solver.task.index(name) for name in ("x", "y", "z")] + [
        solver.task.index(f"r{row}{column}") for row in range(3) for column in range(3)
    ]

    def sample(targets: Tensor, count: int) -> Tensor:
        pieces = []
        for start in range(0, len(targets), chunk):
            part = targets[start : start + chunk]
            goals = torch.full((len(part), len(solver.task.variables)), float("nan"))
            goals[:, goal_columns] = part
            solutions = solver.solve(goals, samples=count, keep=count)
            pieces.append(solutions.observations[..., : solver.task.configuration_size])
        return torch.cat(pieces)

    return sample


def pairwise_distance(samples: Tensor) -> Tensor:
    """(N,) mean joint-space distance between the samples of each target (radians); samples (N, S, n)."""
    distances = torch.cdist(samples, samples)  # (N, S, S)
    count = samples.shape[1]
    return distances.sum((-1, -2)) / (count * (count - 1))


@dataclass(frozen=True)
class PandaFigures:
    """One sampler's Panda figures.

    Attributes:
        position_mm, rotation_deg: mean pose errors of every sample before refinement.
        within_limits: fraction of samples inside the joint limits.
        diversity_rad: mean pairwise joint-space distance of a target's samples.
        samples_per_s: sampling throughput (median of the timed chunks).
        success: fraction of refined samples within 1 mm and 1 degree after at most 100 steps.
        steps: mean refinement steps of the successful ones.
        initial_cost: mean squared residual (position m^2 + (0.1 m x rotation)^2) before refinement, x 1e4.
    """

    position_mm: float
    rotation_deg: float
    within_limits: float
    diversity_rad: float
    samples_per_s: float
    success: float
    steps: float
    initial_cost: float


def panda_figures(
    sample: PandaSampler, targets: Tensor, count: int = 25, refined_targets: int = 512, refined_samples: int = 5
) -> PandaFigures:
    """Errors and diversity over every target x `count` samples; refinement of the first
    `refined_targets` targets' first `refined_samples` samples."""
    chunk = 1024
    pieces, rates = [], []
    for start in range(0, len(targets), chunk):
        began = time.perf_counter()
        pieces.append(sample(targets[start : start + chunk], count))
        rates.append(pieces[-1].shape[0] * count / (time.perf_counter() - began))
    angles = torch.cat(pieces)  # (N, S, 7)
    position, rotation = panda.forward_kinematics(angles)
    target_position, target_rotation = targets[:, None, :3], targets[:, None, 3:].unflatten(-1, (3, 3))
    position_error, rotation_error = panda.pose_errors(position, rotation, target_position, target_rotation)
    lower, upper = panda.joint_limits()
    within = ((angles >= lower) & (angles <= upper)).all(-1)

    start = angles[:refined_targets, :refined_samples].reshape(-1, 7)
    start = torch.maximum(torch.minimum(start, upper), lower)
    goal_position = target_position[:refined_targets].expand(-1, refined_samples, -1).reshape(-1, 3)
    goal_rotation = target_rotation[:refined_targets].expand(-1, refined_samples, -1, -1).reshape(-1, 3, 3)
    begin_position, begin_rotation = panda.forward_kinematics(start)
    begin_position_error, begin_rotation_error = panda.pose_errors(
        begin_position, begin_rotation, goal_position, goal_rotation
    )
    initial_cost = (begin_position_error.pow(2) + (0.1 * begin_rotation_error).pow(2)).mean()
    refined = refine_panda(start, goal_position, goal_rotation)
    succeeded = refined.converged
    rates.sort()
    return PandaFigures(
        position_mm=1000 * position_error.mean().item(),
        rotation_deg=math.degrees(rotation_error.mean().item()),
        within_limits=within.float().mean().item(),
        diversity_rad=pairwise_distance(angles).mean().item(),
        samples_per_s=rates[len(rates) // 2],
        success=succeeded.float().mean().item(),
        steps=refined.steps[succeeded].float().mean().item() if succeeded.any() else float("nan"),
        initial_cost=1e4 * initial_cost.item(),
    )


# The 2-D humanoid --------------------------------------------------------------------------

CEILING = 1.2  # the reference's Fig. 6 bound on every end point's height, metres
SIDE_BOUND = 0.5  # and on their |x| in its "multiple inequalities" panel
END_POINTS = ("head_top", "r_hand", "l_hand", "l_foot", "r_foot")


@dataclass(frozen=True)
class Scenario:
    """One panel of Fig. 6: which end points have goals and which bounds apply.

    Attributes:
        name: the panel's caption.
        goals: end points whose (x, y) is a goal (taken from a random reachable configuration).
        ceiling: whether every end point must stay under CEILING.
        sides: whether every end point must stay within |x| < SIDE_BOUND and above the floor (y > 0).
    """

    name: str
    goals: tuple[str, ...]
    ceiling: bool = False
    sides: bool = False

    def bounds(self) -> tuple[dict[str, float], dict[str, float]]:
        above, below = {}, {}
        for point in END_POINTS:
            if self.ceiling:
                below[f"{point}_y"] = CEILING
            if self.sides:
                above[f"{point}_y"] = 0.0
                above[f"{point}_x"] = -SIDE_BOUND
                below[f"{point}_x"] = SIDE_BOUND
        return above, below


SCENARIOS = (
    Scenario("samples", ()),
    Scenario("hand and feet targets", ("r_hand", "l_foot", "r_foot")),
    Scenario("+ ceiling for y", ("r_hand", "l_foot", "r_foot"), ceiling=True),
    Scenario("multiple inequalities", (), ceiling=True, sides=True),
)


def humanoid_goals(scenario: Scenario, count: int, seed: int) -> list[dict[str, float]]:
    """`count` goal sets: the scenario's end points where a random configuration that meets its
    bounds puts them (so each goal set is reachable within the bounds)."""
    generator = torch.Generator().manual_seed(seed)
    above, below = scenario.bounds()
    goal_sets: list[dict[str, float]] = []
    while len(goal_sets) < count:
        observations = humanoid2d.random_observations(4096, generator)
        keep = torch.ones(len(observations), dtype=torch.bool)
        for name, bound in above.items():
            keep &= observations[:, humanoid2d.variable(name)] > bound
        for name, bound in below.items():
            keep &= observations[:, humanoid2d.variable(name)] < bound
        for row in observations[keep]:
            goals = {}
            for point in scenario.goals:
                for axis in "xy":
                    goals[f"{point}_{axis}"] = float(row[humanoid2d.variable(f"{point}_{axis}")])
            goal_sets.append(goals)
            if len(goal_sets) == count:
                break
    return goal_sets


@dataclass(frozen=True)
class HumanoidFigures:
    """One scenario's figures over its goal sets, for the kept samples.

    Attributes:
        goal_error_mm: mean distance of each goal end point (recomputed by forward kinematics from
            the sampled configuration) to its goal; NaN without goals.
        satisfied: fraction of kept samples meeting every bound (recomputed the same way).
        each_satisfied: fraction of the single bounds met, over kept samples and bounds.
        within_limits: fraction of kept samples whose angles are inside their limits.
        ms_per_call: median time of one call (64 samples, keep 10).
    """

    goal_error_mm: float
    satisfied: float
    each_satisfied: float
    within_limits: float
    ms_per_call: float


def drmm_humanoid_sampler(solver: DrmmIK, weight: float = 3.0) -> HumanoidSampler:
    """The DRMM's 10 most likely of 64 for a goal set and bounds."""

    def sample(goals, above, below, samples, keep):
        solutions = solver.solve(goals, above, below, samples=samples, keep=keep, weight=weight)
        return solutions.observations[0, :, : solver.task.configuration_size]

    return sample


def avips_humanoid_sampler(model: AVIPS) -> HumanoidSampler:
    """aVIPS's 10 most likely (by its own density) of 64 for a goal set of HUMANOID_GOALS and a
    ceiling (the bounds it was trained with; others it cannot take)."""

    def sample(goals, above, below, samples, keep):
        if above or set(below) - {f"{point}_y" for point in humanoid2d.END_POINTS}:
            raise ValueError("aVIPS was trained with goals and a ceiling only")
        ceiling = min(below.values()) if below else NO_CEILING
        context = torch.tensor([[goals[f"{point}_{axis}"] for point in HUMANOID_GOALS for axis in "xy"] + [ceiling]])
        drawn = model.sample(context, samples)  # (1, samples, 13)
        order = model.log_prob(drawn, context)[0].argsort(descending=True)[:keep]
        return drawn[0, order]

    return sample


def humanoid_figures(
    sample: HumanoidSampler, scenario: Scenario, goal_sets: list[dict[str, float]], samples: int = 64, keep: int = 10
) -> HumanoidFigures:
    above, below = scenario.bounds()
    low, high = humanoid2d.configuration_limits()
    errors, satisfied, each, within, times = [], [], [], [], []
    for goals in goal_sets:
        began = time.perf_counter()
        configuration = sample(goals, above, below, samples, keep)
        times.append(time.perf_counter() - began)
        observed = humanoid2d.observe(configuration)  # what the configuration really reaches
        for point in scenario.goals:
            where = humanoid2d.point_slice(point)
            goal = torch.tensor([goals[f"{point}_x"], goals[f"{point}_y"]])
            errors.append((observed[:, where] - goal).norm(dim=-1))
        met = [observed[:, humanoid2d.variable(name)] > bound for name, bound in above.items()]
        met += [observed[:, humanoid2d.variable(name)] < bound for name, bound in below.items()]
        met = torch.stack(met, -1) if met else torch.ones(len(observed), 1, dtype=torch.bool)
        satisfied.append(met.all(-1).float())
        each.append(met.float().flatten())
        within.append(((configuration >= low) & (configuration <= high)).all(-1).float())
    times.sort()
    return HumanoidFigures(
        goal_error_mm=1000 * torch.cat(errors).mean().item() if errors else float("nan"),
        satisfied=torch.cat(satisfied).mean().item(),
        each_satisfied=torch.cat(each).mean().item(),
        within_limits=torch.cat(within).mean().item(),
        ms_per_call=1000 * times[len(times) // 2],
    )


def draw_humanoid(axes, configuration: Tensor, color: str = "gray", alpha: float = 1.0) -> None:
    """Draw one configuration (13,) as its bones' boxes on matplotlib axes."""
    hinge, tip, _ = humanoid2d.bone_frames(configuration)
    for index, bone in enumerate(humanoid2d.BONES):
        start, end = hinge[index], tip[index]
        along = end - start
        across = torch.stack([-along[1], along[0]]) / along.norm() * bone.width / 2
        corners = torch.stack([start + across, end + across, end - across, start - across, start + across])
        axes.plot(corners[:, 0], corners[:, 1], color=color, alpha=alpha, linewidth=1)


def humanoid_figure(solver: DrmmIK, path, seed: int = 0) -> None:
    """Fig. 6 again: for each scenario, the 10 most likely of 64 samples, the most likely in black."""
    figure, panels = plt.subplots(1, len(SCENARIOS), figsize=(3.5 * len(SCENARIOS), 4.0), layout="constrained")
    generator = torch.Generator().manual_seed(seed)
    for axes, scenario in zip(panels, SCENARIOS):
        goals = humanoid_goals(scenario, 1, seed)[0]
        above, below = scenario.bounds()
        solutions = solver.solve(goals, above, below, samples=64, keep=10, weight=3.0, generator=generator)
        configurations = solutions.observations[0, :, : solver.task.configuration_size]
        for configuration in configurations[1:].flip(0):
            draw_humanoid(axes, configuration, alpha=0.3)
        draw_humanoid(axes, configurations[0], color="#202020")
        for point in scenario.goals:
            axes.scatter(goals[f"{point}_x"], goals[f"{point}_y"], marker="x", color="black", s=60)
        if scenario.ceiling:
            axes.axhline(CEILING, color="tab:red", linewidth=1)
        if scenario.sides:
            for x in (-SIDE_BOUND, SIDE_BOUND):
                axes.axvline(x, color="tab:red", linewidth=1)
            axes.axhline(0.0, color="tab:red", linewidth=1)
        axes.set_title(scenario.name, fontsize=11)
        axes.set_xlim(-1.1, 1.1)
        axes.set_ylim(-0.4, 1.9)
        axes.set_aspect("equal")
        axes.set_xticks([])
        axes.set_yticks([])
    figure.savefig(path, dpi=110)
    plt.close(figure)
