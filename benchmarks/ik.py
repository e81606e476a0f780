"""Benchmark IK: the DRMM against aVIPS and the thesis's baselines on the Panda arm, and the DRMM's
goals and constraints on the DRMM paper's 2-D humanoid.

Panda (the aVIPS thesis's Table 5.1 protocol): 10,240 reachable targets (flange poses of uniform
random configurations, a seed no model trained on) x 25 samples each; the mean position error (mm)
and geodesic rotation error (degrees) of every sample before refinement, the fraction inside the
joint limits, the diversity (mean pairwise joint-space distance of a target's samples, radians),
the sampling rate (median over chunks of 1,024 targets), parameters and training time. Then
damped least squares (motion.ik.refine) warm-started from the first 5 samples of the first 512
targets: the initial cost, the fraction within 1 mm and 1 degree after at most 100 steps, and the
mean steps of those that got there (the thesis's Table 5.3 measures).
Humanoid (the DRMM paper's Fig. 6 panels): for each scenario, 100 goal sets taken from random
configurations that meet the scenario's bounds; the goal error and bound satisfaction of the 10
most likely of 64 samples, recomputed by forward kinematics; and the figure itself.

Train the models first (see the README's "Inverse kinematics" section), then:
Usage: python benchmarks/ik.py [--models build/ik] [--targets 10240] [--samples 25] [--goal-sets 100]
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import torch
from common import Report

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from evaluation.ik import (  # noqa: E402
    SCENARIOS,
    THESIS_TABLE_5_1,
    avips_humanoid_sampler,
    drmm_humanoid_sampler,
    drmm_panda_sampler,
    humanoid_figure,
    humanoid_figures,
    humanoid_goals,
    panda_figures,
    panda_targets,
)
from motion.ik import panda  # noqa: E402
from motion.ik.tasks import DrmmIK  # noqa: E402
from motion.models.avips import AVIPS  # noqa: E402

RESULTS = Path(__file__).parent / "results"
TARGET_SEED = 12345  # Panda targets: a seed no training run draws from (they use 0 and 1)
GOAL_SEED = 54321
PANDA_MODELS = {  # label -> checkpoint name under --models
    "DRMM": "drmm-panda.pt",
    "aVIPS": "avips.pt",
    "GMM": "gmm.pt",
    "Gaussian": "gaussian.pt",
}


def training_minutes(checkpoint: Path) -> float:
    """Wall-clock training time from the trainer's log: iterations over the mean rate of the last row."""
    with open(checkpoint.with_suffix(checkpoint.suffix + ".csv")) as file:
        last = list(csv.DictReader(file))[-1]
    return int(last["iteration"]) / float(last["iterations_per_s"]) / 60


def sampler(label: str, path: Path):
    if label == "DRMM":
        solver = DrmmIK.load(path)
        return drmm_panda_sampler(solver), solver.model.parameter_count
    model = AVIPS.load(path)
    return (lambda targets, count: model.sample(targets, count)), model.parameter_count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=Path, default=Path("build/ik"), help="folder of the trained checkpoints")
    parser.add_argument("--targets", type=int, default=10240)
    parser.add_argument("--samples", type=int, default=25)
    parser.add_argument("--goal-sets", type=int, default=100)
    parser.add_argument("--parts", default="panda,humanoid", help="which tables: panda, humanoid or both")
    parser.add_argument("--out", type=Path, default=RESULTS / "ik.txt", help="written with --parts' tables")
    args = parser.parse_args()
    torch.manual_seed(0)
    say = Report()
    parts = set(args.parts.split(","))
    if "panda" in parts:
        panda_table(args, say)
    if "humanoid" in parts:
        humanoid_table(args, say)
    say.write(args.out)


def panda_table(args: argparse.Namespace, say) -> None:
    say(f"Panda: {args.targets:,} targets x {args.samples} samples; refinement: 512 targets x 5 samples")
    say(
        "| method | position mm | rotation ° | within limits | diversity rad | samples/s | parameters "
        "| training | refined: success | steps | initial cost ×1e4 |"
    )
    say("|---|---|---|---|---|---|---|---|---|---|---|")
    targets = panda_targets(args.targets, TARGET_SEED)
    for label, name in PANDA_MODELS.items():
        path = args.models / name
        if not path.is_file():
            say(f"| {label} | (no {path}) |")
            continue
        sample, parameters = sampler(label, path)
        figures = panda_figures(sample, targets, args.samples)
        say(
            f"| {label} | {figures.position_mm:.1f} | {figures.rotation_deg:.2f} | {100 * figures.within_limits:.1f} % "
            f"| {figures.diversity_rad:.3f} | {figures.samples_per_s:,.0f} | {parameters / 1e6:.2f} M "
            f"| {training_minutes(path):.0f} min | {100 * figures.success:.1f} % | {figures.steps:.2f} "
            f"| {figures.initial_cost:.2f} |"
        )
    # What a user has without a model: a local solver started from uniform random configurations.
    generator = torch.Generator().manual_seed(TARGET_SEED + 1)
    figures = panda_figures(
        lambda part, count: panda.random_configurations(len(part) * count, generator).reshape(len(part), count, -1),
        targets, args.samples,
    )  # fmt: skip
    say(
        f"| uniform random (no model) | {figures.position_mm:.1f} | {figures.rotation_deg:.2f} | 100.0 % "
        f"| {figures.diversity_rad:.3f} | | 0 | | {100 * figures.success:.1f} % | {figures.steps:.2f} "
        f"| {figures.initial_cost:.2f} |"
    )
    for label, (position, rotation, parameters) in THESIS_TABLE_5_1.items():
        say(f"| {label} (thesis, GPU) | {position:.2f} | {rotation:.2f} | | | | {parameters:.2f} M | | | | |")


def humanoid_table(args: argparse.Namespace, say) -> None:
    humanoid = args.models / "drmm-humanoid2d.pt"
    if humanoid.is_file():
        solver = DrmmIK.load(humanoid)
        samplers = {"DRMM": drmm_humanoid_sampler(solver)}
        if (args.models / "avips-humanoid2d.pt").is_file():  # trained for the goal and ceiling scenarios only
            samplers["aVIPS"] = avips_humanoid_sampler(AVIPS.load(args.models / "avips-humanoid2d.pt"))
        say("")
        say(f"2-D humanoid: {args.goal_sets} goal sets per scenario, 10 most likely of 64 samples")
        say("| scenario | method | goal error mm | every bound met | single bounds met | within limits | ms per call |")
        say("|---|---|---|---|---|---|---|")
        for scenario in SCENARIOS:
            goal_sets = humanoid_goals(scenario, args.goal_sets, GOAL_SEED)
            for method, sample in samplers.items():
                if method == "aVIPS" and (not scenario.goals or scenario.sides):
                    continue  # its context is the three goals and a ceiling
                figures = humanoid_figures(sample, scenario, goal_sets)
                error = "" if scenario.goals == () else f"{figures.goal_error_mm:.1f}"
                say(
                    f"| {scenario.name} | {method} | {error} | {100 * figures.satisfied:.1f} % "
                    f"| {100 * figures.each_satisfied:.1f} % | {100 * figures.within_limits:.1f} % "
                    f"| {figures.ms_per_call:.1f} |"
                )
        humanoid_figure(solver, RESULTS / "ik-humanoid.png")
        say("figure: benchmarks/results/ik-humanoid.png")


if __name__ == "__main__":
    main()
