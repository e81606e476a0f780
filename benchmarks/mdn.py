"""Benchmark the MDN baseline against the DRMM on the same locomotion test split.

    python benchmarks/mdn.py --drmm runs/drmm100k.pt --mdn runs/mdn.pt --data SEGMENTS [--seconds 60]

- conditional negative log-likelihood of the 5 next poses given the context blocks, the goal
  root x, y and the goal forward x, y, nats per segment, on `--segments` test segments: the
  MDN's directly; the DRMM's as log p(context, goals, next) - log p(context, goals), the other
  variables marginalised out, both estimated with the same S importance passes;
- playback on the scripted course in both modes (seeds 0-2, medians), each model with its own
  default settings: the DRMM with direction clipping, the MDN with the flag as the goal.
Prints the figures and the machine and writes benchmarks/results/mdn.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `playback` is the package, not the script
from common import ROOT, machine

from evaluation.takes import median_figures, takes
from motion.dataset import load_dataset
from motion.layout import SegmentLayout
from motion.models import DRMM, MDN
from motion.models.mdn import mdn_inputs
from playback.flags import COURSE, parse_flags
from playback.loop import PlaybackConfig


def drmm_conditional_nll(model: DRMM, segments: torch.Tensor, layout: SegmentLayout, passes: int) -> torch.Tensor:
    """-log p(next | context, goal x, y, forward x, y) per segment, nats."""
    given = torch.zeros(layout.size)
    given[layout.context] = 1
    given[layout.goal_root_xy] = 1
    given[layout.goal_forward_xy] = 1
    joint = given.clone()
    joint[layout.next_poses] = 1
    generator = torch.Generator().manual_seed(0)
    both = model.log_likelihood(segments, joint, passes=passes, generator=generator)
    condition = model.log_likelihood(segments, given, passes=passes, generator=generator)
    return condition - both


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drmm", required=True, type=Path, help="DRMM checkpoint")
    parser.add_argument("--mdn", required=True, type=Path, help="MDN checkpoint trained on the same segments")
    parser.add_argument("--data", required=True, type=Path, help="the segments both were trained on")
    parser.add_argument("--segments", type=int, default=2000, help="test segments for the likelihoods")
    parser.add_argument("--passes", type=int, default=32, help="S, importance passes of the DRMM's estimates")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each take")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--report", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    torch.set_grad_enabled(False)
    seeds = [int(s) for s in args.seeds.split(",")]
    print(machine())
    report: dict = {"machine": machine(), "drmm": str(args.drmm), "mdn": str(args.mdn), "seeds": seeds}

    drmm, mdn = DRMM.load(args.drmm), MDN.load(args.mdn)
    data = load_dataset(args.data, kind="segments")
    layout = data.layout
    contents = drmm.metadata.contents or None
    rows = np.flatnonzero((data.split == "test") & (np.isin(data.content.astype(str), contents) if contents else True))
    pick = np.random.default_rng(0).permutation(rows)[: args.segments]
    test = torch.from_numpy(data.features[np.sort(pick)])
    next_poses = test[:, layout.next_poses]
    nll = {
        "mdn": -mdn.log_prob(mdn_inputs(test, layout), next_poses).mean().item(),
        "mdn, forward hidden": -mdn.log_prob(mdn_inputs(test, layout, False), next_poses).mean().item(),
        "drmm": drmm_conditional_nll(drmm, test, layout, args.passes).mean().item(),
    }
    report["conditional_nll"] = nll | {"segments": len(test), "passes": args.passes}
    print(f"conditional NLL of the next poses, {len(test)} test segments (nats, lower is better): {nll}")
    print(f"parameters: DRMM {drmm.parameter_count:,}, MDN {mdn.parameter_count:,}")
    report["parameters"] = {"drmm": drmm.parameter_count, "mdn": mdn.parameter_count}

    course = parse_flags(COURSE)
    report["takes"] = {}
    for name, model, base in (("DRMM", drmm, PlaybackConfig()), ("MDN", mdn, PlaybackConfig(clipping="none"))):
        for facing in (True, False):
            rows_, _ = takes(model, replace(base, facing=facing), seeds, args.seconds, course)
            label = f"{name}, {'facing' if facing else 'facing unspecified'}"
            report["takes"][label] = median_figures(rows_)
            print(f"{label}: " + ", ".join(f"{k} {v:.3g}" for k, v in report["takes"][label].items()))

    args.report.mkdir(parents=True, exist_ok=True)
    (args.report / "mdn.json").write_text(json.dumps(report, indent=1))
    print(f"wrote {args.report / 'mdn.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
