"""Benchmark posing (motion pose) on held-out real poses: targets taken from real test poses, the DRMM's
10 most likely of 64 samples against the real pose, before and after refinement, beside the nearest
pose of the training library (refined the same way).

Two models: the shipped one (every content, tested on the test split) and one trained the same way
without two contents, tested on poses of those contents (never seen in training).
For each scenario: target error before and after refinement, the other joints' distance to the
real pose (the best pose, and the mean over the kept ones), the bound met, the DRMM's
log-likelihood of the refined best poses against that of the real held-out poses, and the median
time per call.

Usage: python benchmarks/pose.py --data data/poses/poses [--held-out-model build/pose/drmm-pose-8.pt] [--poses 300]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from common import Report

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from evaluation.posing import POSING_SCENARIOS, posing_figures, real_log_likelihood  # noqa: E402
from motion.assets import POSE_MODEL  # noqa: E402
from motion.dataset import load_dataset  # noqa: E402
from motion.models import DRMM  # noqa: E402

RESULTS = Path(__file__).parent / "results"
HELD_OUT = ("raise-up-both-hands", "wave-left-hand")  # the contents the second model never saw


def poses_of(data, rows: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(data.features[rows].reshape(len(rows), data.layout.joints, 3))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="poses written by motion preprocess --kind poses")
    parser.add_argument("--model", type=Path, default=POSE_MODEL)
    parser.add_argument("--held-out-model", type=Path, default=Path("build/pose/drmm-pose-8.pt"))
    parser.add_argument("--poses", type=int, default=300, help="real test poses per scenario")
    parser.add_argument("--out", type=Path, default=RESULTS / "pose.txt")
    args = parser.parse_args()
    torch.manual_seed(0)
    say = Report()

    data = load_dataset(args.data)
    rng = np.random.default_rng(0)
    split, content = data.split.astype(str), data.content.astype(str)
    runs = [("shipped model, test split", args.model, split == "test", split == "train")]
    if args.held_out_model.is_file():
        unseen = np.isin(content, HELD_OUT)
        runs.append(
            (
                f"without {', '.join(HELD_OUT)}, tested on them",
                args.held_out_model,
                unseen,
                (split == "train") & ~unseen,
            )
        )
    for title, path, test_rows, train_rows in runs:
        model = DRMM.load(path)
        test = np.sort(rng.choice(np.flatnonzero(test_rows), min(args.poses, int(test_rows.sum())), replace=False))
        real, library = poses_of(data, test), poses_of(data, np.flatnonzero(train_rows))
        say(f"{title}: {len(test)} real poses, {len(library):,} training poses in the library")
        say(f"real held-out poses' log-likelihood: {real_log_likelihood(model, real):.1f} nats")
        say(
            "| scenario | method | target mm | refined target mm | other joints mm (best / kept) | bound met "
            "| log-likelihood (refined best) | ms per call |"
        )
        say("|---|---|---|---|---|---|---|---|")
        for scenario in POSING_SCENARIOS:
            for method, pool in (("DRMM, 10 of 64", None), ("nearest training pose", library)):
                figures = posing_figures(model, real, scenario, pool)
                say(
                    f"| {scenario.name} | {method} | {figures.target_mm:.1f} | {figures.refined_target_mm:.2f} "
                    f"| {figures.others_best_mm:.0f} / {figures.others_kept_mm:.0f} | {100 * figures.bound_met:.0f} % "
                    f"| {figures.log_likelihood:.1f} | {figures.ms_per_call:.1f} |"
                )
        say()
    say.write(args.out)


if __name__ == "__main__":
    main()
