"""Training speed side by side with the reference TensorFlow DRMM (github.com/PerttuHamalainen/DRMM),
in one run on one machine: the same L = 4, K = 512 model on the same real locomotion segments, batch 256.

    python benchmarks/drmm_reference.py --reference DRMM_CHECKOUT --tf-python PYTHON [--data data/locomotion/segments]

PYTHON is an interpreter with TensorFlow (the reference is TF 1.15 code; it runs under TF 2's
tf.compat.v1). The reference's code is imported from the checkout, not copied. Its curriculum is a
phase in [0, 1) passed to every step: it is timed at ten phases spread over it. Ours is timed by
benchmarks/drmm.py's training_rate in each stage (eager and compiled). "Whole curriculum" is the
rate over equal numbers of steps at each timed point (the harmonic mean). Prints medians and the
machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

PHASES = [0.05 + 0.1 * i for i in range(10)]
BATCH = 256


def reference_rates(reference: Path, data: Path, steps: int) -> list[float]:
    """Run in the TensorFlow interpreter: iterations/s of the reference at each phase of PHASES."""
    import tensorflow.compat.v1 as tf1

    tf1.disable_v2_behavior()
    sys.modules["tensorflow"] = tf1  # the reference imports TF 1.15's API under this name
    sys.path.insert(0, str(reference))
    from DRMM import DRMM, dataStream

    vectors = np.load(data)
    session = tf1.Session()
    stream = dataStream("continuous", shape=[None, vectors.shape[1]])
    model = DRMM(sess=session, nLayers=4, nComponentsPerLayer=512, inputs=stream, initialLearningRate=0.002)
    tf1.global_variables_initializer().run(session=session)
    rng = np.random.default_rng(0)
    model.init(vectors[rng.integers(0, len(vectors), 1024)])
    rates = []
    for phase in PHASES:
        times = []
        for _ in range(steps + 3):  # 3 warm-up steps
            batch = vectors[rng.integers(0, len(vectors), BATCH)]
            began = time.perf_counter()
            model.train(phase, batch)
            times.append(time.perf_counter() - began)
        rates.append(1 / statistics.median(times[3:]))
    return rates


def whole(rates: list[float]) -> float:
    return len(rates) / sum(1 / rate for rate in rates)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", required=True, type=Path, help="a checkout of the reference (DRMM.py in it)")
    parser.add_argument("--tf-python", default=sys.executable, help="an interpreter with TensorFlow")
    parser.add_argument("--data", type=Path, help="locomotion segments (default: preprocess the shared archive)")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per phase (reference) or stage (ours)")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)  # the .npy the TF process times on
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(reference_rates(args.reference, args.worker, args.steps)))
        return 0

    import torch
    from common import machine
    from drmm import locomotion_segments, training_rate

    from motion.dataset import load_dataset

    print(machine())
    with tempfile.TemporaryDirectory() as work:
        segments = args.data or locomotion_segments(Path(work))
        data = load_dataset(segments, split="train").tensor()
        print(f"data: {len(data):,} train vectors of {data.shape[1]} values; L=4 K=512 batch {BATCH}")
        sample = Path(work) / "segments.npy"
        np.save(sample, data[torch.randperm(len(data), generator=torch.Generator().manual_seed(0))[:20000]].numpy())
        command = [args.tf_python, __file__, "--reference", str(args.reference), "--worker", str(sample)]
        result = subprocess.run([*command, "--steps", str(args.steps)], capture_output=True, text=True, check=False)
        if result.returncode != 0:
            print(result.stderr[-2000:], file=sys.stderr)
            return 1
        reference = json.loads(result.stdout.strip().splitlines()[-1])
    print(
        "reference (TensorFlow, tf.compat.v1): " + ", ".join(f"{rate:.1f}" for rate in reference) + " it/s over phases"
    )
    print(f"  whole curriculum {whole(reference):.1f} it/s")
    device = torch.device("cpu")
    ours = {}
    for compiled in (False, True):
        stages = training_rate(data, device, BATCH, compiled, args.steps * 5)
        ours[compiled] = whole(stages)
        label = "compiled" if compiled else "eager"
        print(
            f"ours, {label}: stages "
            + ", ".join(f"{rate:.1f}" for rate in stages)
            + f" it/s; whole {ours[compiled]:.1f}"
        )
    print(
        f"ratio, whole curriculum: eager {ours[False] / whole(reference):.2f}x, compiled {ours[True] / whole(reference):.2f}x"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
