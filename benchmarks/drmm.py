"""Benchmark the DRMM at the paper's animation size: training speed, playback sampling, quality.

On the 962 locomotion clips of the shared Bandai archive (487-wide segments, stride 1):
- training iterations/s (L=4, K=512, batch 256) in each curriculum stage, eager and with
  torch.compile, and the whole-curriculum rate; on a GPU also at larger batches;
- playback sampling: 256 samples conditioned on a real context (weights 0.333, 0.333, 0.8)
  and goal (position 0.5, forward 1.0), sorted; unconstrained and with a head-height ceiling;
- quality: mean test log-likelihood per vector (one-pass estimate and S = 32) of a model
  trained for --iterations with `motion train drmm` (or of --checkpoint).
Prints medians and the machine. Usage: python benchmarks/drmm.py [--iterations 20000] [--out CKPT]
(train and keep the model), [--checkpoint CKPT --quality-only] (evaluate a trained model) or
[--data DIR --profile] (where a compiled training step's time goes, per stage).
"""

from __future__ import annotations

import argparse
import logging
import resource
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch
from common import BANDAI_ZIP, LOCOMOTION, machine

from motion.dataset import load_dataset
from motion.layout import SegmentLayout
from motion.models import DRMM, Condition, DRMMConfig
from motion.skeleton import preset_roles
from preprocessing import PreprocessConfig, preprocess
from training import DataSelection, DRMMTraining, train_drmm
from training.drmm import Curriculum, DRMMRecipe
from training.trainer import compile_step


def locomotion_segments(work: Path) -> Path:
    out = work / "locomotion"
    if preprocess([BANDAI_ZIP], out, PreprocessConfig(kinds=("segments",), contents=LOCOMOTION)).failures:
        sys.exit("preprocessing failed")
    return out / "segments"


def training_step(data: torch.Tensor, device: torch.device, compiled: bool):
    """A freshly initialised model's training step, step(stage, rows): the stage's objective on
    the batch of `data` rows `rows` (drawn by the caller, outside any timing)."""
    torch.manual_seed(0)
    model = DRMM(DRMMConfig(dim=data.shape[1])).to(device)
    curriculum = Curriculum(iterations=3)  # iteration i is in stage i
    recipe = DRMMRecipe(model, curriculum, data)
    recipe.initialize()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.002, fused=True)
    module = compile_step(model, device) if compiled else model

    def step(stage: int, rows: torch.Tensor) -> None:
        loss, _ = recipe.loss(module, data[rows], stage)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def step_times(step, data: torch.Tensor, device: torch.device, batch: int, stage: int, count: int) -> list[float]:
    """Seconds of each of `count` training steps (training_step's) in `stage`, each on `batch` random
    rows of `data` drawn before its timing starts."""
    times = []
    for _ in range(count):
        rows = torch.randint(0, len(data), (batch,), device=device)
        synchronize(device)
        started = time.perf_counter()
        step(stage, rows)
        synchronize(device)
        times.append(time.perf_counter() - started)
    return times


def training_rate(data: torch.Tensor, device: torch.device, batch: int, compiled: bool, steps: int) -> list[float]:
    """Median iterations/s in each curriculum stage (steps timed per stage after 20 warm-up steps)."""
    step = training_step(data, device, compiled)
    timed = (step_times(step, data, device, batch, stage, steps + 20)[20:] for stage in range(3))
    return [1.0 / statistics.median(times) for times in timed]


def profile_training(data: torch.Tensor, device: torch.device, batch: int, steps: int) -> None:
    """Print the operators and compiled kernels that take a compiled step's time, per stage, after
    100 steps of each (the first iterations' gradients are denser than the rest of training's)."""
    import torch._inductor.config as inductor  # noqa: PLC0415 - only when profiling
    from torch.profiler import profile  # noqa: PLC0415

    inductor.cpp.enable_kernel_profile = True  # each fused kernel under its own name
    step = training_step(data, device, compiled=True)
    rows = torch.randint(0, len(data), (100 + steps, batch), device=device)
    for stage in range(3):
        for batch_rows in rows[:100]:
            step(stage, batch_rows)
        with profile() as profiler:
            for batch_rows in rows[100:]:
                step(stage, batch_rows)
        print(f"stage {stage + 1}, {steps} steps, by self time (kernel profiling adds its own overhead):")
        print(profiler.key_averages().table(sort_by="self_cpu_time_total", row_limit=15, max_name_column_width=60))


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def playback_condition(layout: SegmentLayout, segment: torch.Tensor, head: int, ceiling: float | None) -> Condition:
    """The conditioning of one playback decision, optionally with a head-height ceiling."""
    weights = torch.zeros(layout.size)
    for block, weight in enumerate((0.333, 0.333, 0.8)):
        weights[layout.context_block(block)] = weight
    weights[layout.goal_root_position] = 0.5
    weights[layout.goal_forward] = 1.0
    if ceiling is None:
        return Condition(values=segment, weights=weights)
    box_max = torch.full((layout.size,), float("nan"))
    box_max[layout.next_pose_heights(head)] = ceiling
    box_max[layout.goal_head_height] = ceiling
    return Condition(values=segment, weights=weights, box_max=box_max)


def sampling_ms(model: DRMM, condition: Condition, calls: int = 60) -> float:
    generator = torch.Generator(model.means[0].device).manual_seed(0)
    times = []
    for _ in range(calls + 5):
        synchronize(model.means[0].device)
        started = time.perf_counter()
        model.sample(256, condition, sort=True, generator=generator)
        synchronize(model.means[0].device)
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times[5:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, help="locomotion segments (default: preprocess the shared archive)")
    parser.add_argument("--checkpoint", type=Path, help="evaluate this model instead of training one")
    parser.add_argument("--iterations", type=int, default=20000, help="training iterations of the quality run")
    parser.add_argument("--out", type=Path, help="keep the quality run's checkpoint here (default: discarded)")
    parser.add_argument("--steps", type=int, default=100, help="timed training steps per stage")
    parser.add_argument("--quality-only", action="store_true", help="skip the speed measurements")
    parser.add_argument("--profile", action="store_true", help="only profile a compiled training step per stage")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")  # what each training run trains
    device = torch.device(args.device)
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        segments = args.data or locomotion_segments(work)
        train_set = load_dataset(segments, split="train")
        test_set = load_dataset(segments, split="test")
        data = torch.from_numpy(train_set.features).to(device)
        print(f"data: {len(load_dataset(segments)) - len(test_set):,} train+val and {len(test_set):,} test vectors")
        if args.profile:
            profile_training(data, device, 256, steps=20)
            return 0

        if not args.quality_only:
            print(f"training L=4 K=512 batch 256 on {device} (median of {args.steps} steps per stage):")
            for compiled in (False, True):
                rates = training_rate(data, device, 256, compiled, args.steps)
                whole = 3 / sum(1 / rate for rate in rates)
                stages = ", ".join(f"stage {i + 1} {rate:.1f}" for i, rate in enumerate(rates))
                print(f"  {'compiled' if compiled else 'eager   '}: {stages} it/s; whole curriculum {whole:.1f} it/s")
            if device.type == "cuda":
                for batch in (1024, 4096, 16384):
                    rates = training_rate(data, device, batch, True, args.steps)
                    whole = 3 / sum(1 / rate for rate in rates)
                    print(f"  compiled, batch {batch}: {whole:.1f} it/s, {whole * batch:,.0f} vectors/s")

        checkpoint = args.checkpoint
        if checkpoint is None:
            checkpoint = args.out or work / "drmm.pt"
            started = time.perf_counter()
            # As the reference measured it: trained on everything but the test split.
            schedule = replace(DRMMTraining().schedule, iterations=args.iterations)
            selection = DataSelection(train_splits=("train", "val"), val_size=0)
            train_drmm(
                segments, checkpoint, DRMMTraining(schedule=schedule), selection, device=args.device, overwrite=True
            )
            print(f"trained {args.iterations:,} iterations in {time.perf_counter() - started:.0f} s")
        model = DRMM.load(checkpoint, device)
        layout, metadata = model.metadata.layout, model.metadata
        segment = torch.from_numpy(test_set.features[len(test_set) // 2])
        if not args.quality_only:
            print("playback sampling, 256 samples per call, sorted:")
            head = preset_roles(metadata.skeleton.name)["head"]
            plain = playback_condition(layout, segment, head, None)
            print(f"  context + goals: {sampling_ms(model, plain):.1f} ms per call")
            ceiling_height = segment[layout.next_pose_heights(head)].min().item() - 0.1
            ceiling = playback_condition(layout, segment, head, ceiling_height)
            print(f"  with a head-height ceiling: {sampling_ms(model, ceiling):.1f} ms per call")

        test = torch.from_numpy(test_set.features).to(device)
        generator = torch.Generator(device).manual_seed(0)
        one_pass = model.log_likelihood(test, passes=1, generator=generator).mean().item()
        s32 = model.log_likelihood(test, passes=32, generator=generator).mean().item()
        iterations = metadata.iteration
        print(
            f"test log-likelihood after {iterations} iterations: {one_pass:.1f} nats/vector (one pass), {s32:.1f} (S=32)"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"peak RSS of this process: {peak:.2f} GiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
