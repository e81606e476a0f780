"""Training speed side by side with the reference TensorFlow DRMM (github.com/PerttuHamalainen/DRMM),
in one run on one machine: the same L = 4, K = 512 model on the same real locomotion segments, batch 256.

    python benchmarks/drmm_reference.py --reference DRMM_CHECKOUT --tf-python PYTHON [--data data/locomotion/segments]
        [--baseline OTHER_CHECKOUT]

PYTHON is an interpreter with TensorFlow (the reference is TF 1.15 code; it runs under TF 2's
tf.compat.v1). The reference's code is imported from the checkout, not copied. --baseline times this
project's code at another revision too (a checkout, e.g. `git worktree add /tmp/old REV`), with this
benchmark's harness, so that two versions compare in one run.

Each contender trains in a process of its own, and the processes take turns: in each of --rounds
rounds every contender times --steps steps at each of its points, in an order that rotates from
round to round, so a shared VM's drifts in speed fall on all of them alike (run one after another,
they moved the ratio by up to ±15 %). The reference's curriculum is a phase in [0, 1) passed to every
step, timed at ten phases spread over it; ours is timed in each stage, eager and compiled, after 20
warm-up steps per stage (benchmarks/drmm.py's training_step). "Whole curriculum" is the rate over
equal numbers of steps at each point (the harmonic mean of the medians). Prints medians and the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

PHASES = [0.05 + 0.1 * i for i in range(10)]
STAGES = [(stage, compiled) for compiled in (False, True) for stage in range(3)]
BATCH = 256
WARM_UP = 20  # steps per point before timing; compilation happens in them
PAUSE = 0.1  # s before each request: the idle workers' spinning threads go to sleep, off the CPU
ANSWER = "timing: "  # marks a worker's answers among whatever else its code prints to stdout


def serve(time_point, points: list, code: str) -> None:
    """Answer timing requests on stdin, one JSON line each: {"point": index, "steps": n} -> n step times.
    The first answer, once warmed up, names the code timed (`code`: the file it was imported from)."""
    for point in points:  # warm-up
        time_point(point, WARM_UP)
    print(ANSWER + json.dumps(code), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        print(ANSWER + json.dumps(time_point(points[request["point"]], request["steps"])), flush=True)


def reference_worker(reference: Path, vectors_path: Path) -> None:
    """Run in the TensorFlow interpreter: time the reference's steps at the phases of PHASES."""
    import tensorflow.compat.v1 as tf1

    tf1.disable_v2_behavior()
    sys.modules["tensorflow"] = tf1  # the reference imports TF 1.15's API under this name
    sys.path.insert(0, str(reference))
    import DRMM as reference_module
    from DRMM import DRMM, dataStream

    vectors = np.load(vectors_path)
    session = tf1.Session()
    stream = dataStream("continuous", shape=[None, vectors.shape[1]])
    model = DRMM(sess=session, nLayers=4, nComponentsPerLayer=512, inputs=stream, initialLearningRate=0.002)
    tf1.global_variables_initializer().run(session=session)
    rng = np.random.default_rng(0)
    model.init(vectors[rng.integers(0, len(vectors), 1024)])

    def time_phase(phase: float, steps: int) -> list[float]:
        times = []
        for _ in range(steps):
            batch = vectors[rng.integers(0, len(vectors), BATCH)]
            began = time.perf_counter()
            model.train(phase, batch)
            times.append(time.perf_counter() - began)
        return times

    serve(time_phase, PHASES, reference_module.__file__)


def ours_worker(segments: Path) -> None:
    """Time this project's training steps (whichever code PYTHONPATH gives) in each stage and mode."""
    import torch
    from drmm import step_times, training_step

    import motion
    from motion.dataset import load_dataset

    device = torch.device("cpu")
    data = load_dataset(segments, split="train").tensor()
    steps = {compiled: training_step(data, device, compiled) for compiled in (False, True)}

    def time_stage(point: tuple[int, bool], count: int) -> list[float]:
        stage, compiled = point
        return step_times(steps[compiled], data, device, BATCH, stage, count)

    serve(time_stage, STAGES, motion.__file__)


class Worker:
    """A contender's process, timing steps on request; its stderr goes to a file shown if it fails."""

    def __init__(self, name: str, command: list[str], points: int, log: Path, env: dict | None = None) -> None:
        self.name, self.points, self.log = name, points, log
        with log.open("w") as stderr:  # the child keeps its own copy of the file
            self.process = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, text=True, env=env
            )
        self.code = self._answer()  # once warmed up: the file its code came from

    def time(self, point: int, steps: int) -> list[float]:
        time.sleep(PAUSE)
        try:
            self.process.stdin.write(json.dumps({"point": point, "steps": steps}) + "\n")
            self.process.stdin.flush()
        except BrokenPipeError:
            self._failed()
        return self._answer()

    def _answer(self):
        for line in self.process.stdout:
            if line.startswith(ANSWER):
                return json.loads(line[len(ANSWER) :])
        self._failed()

    def _failed(self):
        raise RuntimeError(f"{self.name} worker failed:\n{self.log.read_text()[-2000:]}")

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


def whole(rates: list[float]) -> float:
    return len(rates) / sum(1 / rate for rate in rates)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=" ".join(__doc__.split("\n\n")[0].split()), formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--reference", required=True, type=Path, help="a checkout of the reference (DRMM.py in it)")
    parser.add_argument("--tf-python", default=sys.executable, help="an interpreter with TensorFlow")
    parser.add_argument("--data", type=Path, help="locomotion segments; without it, the shared archive is preprocessed")
    parser.add_argument("--baseline", type=Path, help="a checkout of this project at another revision, timed too")
    parser.add_argument("--rounds", type=int, default=10, help="turns each contender takes")
    parser.add_argument("--steps", type=int, default=4, help="timed steps per point in each round")
    parser.add_argument("--worker-reference", type=Path, help=argparse.SUPPRESS)  # the .npy the TF process trains on
    parser.add_argument("--worker-ours", type=Path, help=argparse.SUPPRESS)  # the segments ours trains on
    args = parser.parse_args(argv)
    if args.worker_reference:
        reference_worker(args.reference, args.worker_reference)
        return 0
    if args.worker_ours:
        ours_worker(args.worker_ours)
        return 0

    import torch
    from common import machine
    from drmm import locomotion_segments

    from motion.dataset import load_dataset

    print(machine())
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        segments = args.data or locomotion_segments(work)
        data = load_dataset(segments, split="train").tensor()
        print(f"data: {len(data):,} train vectors of {data.shape[1]} values; L=4 K=512 batch {BATCH}")
        sample = work / "segments.npy"
        np.save(sample, data[torch.randperm(len(data), generator=torch.Generator().manual_seed(0))[:20000]].numpy())
        ours = [sys.executable, __file__, "--reference", str(args.reference), "--worker-ours", str(segments.resolve())]
        trees = {"ours": Path(__file__).resolve().parents[1]} | ({"baseline": args.baseline} if args.baseline else {})
        workers = []  # each one's process is killed when the run ends or fails
        try:
            workers.append(
                Worker(
                    "reference",
                    [args.tf_python, __file__, "--reference", str(args.reference), "--worker-reference", str(sample)],
                    len(PHASES),
                    work / "reference.log",
                )
            )
            for name, tree in trees.items():
                env = os.environ | {"PYTHONPATH": str(tree.resolve())}
                workers.append(Worker(name, ours, len(STAGES), work / f"{name}.log", env))
            for worker in workers:
                print(f"{worker.name}: {worker.code}")
            times = {worker.name: [[] for _ in range(worker.points)] for worker in workers}
            for round_ in range(args.rounds):
                for worker in workers[round_ % len(workers) :] + workers[: round_ % len(workers)]:
                    for point in range(worker.points):
                        times[worker.name][point] += worker.time(point, args.steps)
        finally:
            for worker in workers:
                worker.close()
    rates = {name: [1 / statistics.median(point) for point in points] for name, points in times.items()}
    print(f"{args.rounds} rounds of {args.steps} steps per point, medians:")
    print(
        "reference (TensorFlow, tf.compat.v1): "
        + ", ".join(f"{r:.1f}" for r in rates["reference"])
        + " it/s over phases"
    )
    print(f"  whole curriculum {whole(rates['reference']):.1f} it/s")
    for name in trees:
        for compiled in (False, True):
            stages = [rate for (_, c), rate in zip(STAGES, rates[name], strict=True) if c == compiled]
            label = "compiled" if compiled else "eager"
            ratio = whole(stages) / whole(rates["reference"])
            print(
                f"{name}, {label}: stages " + ", ".join(f"{r:.1f}" for r in stages)
                + f" it/s; whole {whole(stages):.1f}; {ratio:.2f}x the reference"
            )  # fmt: skip
    if args.baseline:
        for compiled in (False, True):
            pick = [index for index, (_, c) in enumerate(STAGES) if c == compiled]
            ratio = whole([rates["ours"][i] for i in pick]) / whole([rates["baseline"][i] for i in pick])
            print(f"ours / baseline, {'compiled' if compiled else 'eager'}: {ratio:.3f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
