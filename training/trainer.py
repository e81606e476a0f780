"""The training loop every model shares: batches, Adam, schedules, logs, checkpoints, resume, DDP.

A model brings a `Recipe`: its objective, curriculum (stage names and learning-rate factor
per iteration), validation and data-dependent initialisation. The trainer does the rest:
- a tqdm bar with loss, log-likelihood, learning rate and stage, and a CSV log beside the
  checkpoint (`CKPT` -> `CKPT.csv`) with every metric every `log_every` iterations;
- validation every `validate_every` iterations and at the end;
- checkpoints (model config and weights, optimiser, RNG states, iteration, and the model's
  metadata: skeleton, layout, rate, labels, recipe) every `checkpoint_every` iterations, at the
  end, and on Ctrl-C or SIGTERM, written atomically; `resume=True` continues from one with the
  same batches and random draws;
- DistributedDataParallel across the processes of a `torchrun` launch.

`train()` runs a recipe the way every `motion train MODEL` does: refusing to clobber a checkpoint,
logging what is trained, optionally exporting the model to ship.
"""

from __future__ import annotations

import csv
import logging
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Protocol

import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from motion.checkpoint import ModelMetadata, export_checkpoint, load_checkpoint, save_checkpoint
from motion.errors import InputError
from training.distributed import Topology, any_rank

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings (saved in every checkpoint)."""

    iterations: int
    batch: int = 256
    lr: float = 0.002
    seed: int = 0
    checkpoint_every: int = 1000
    validate_every: int = 1000
    log_every: int = 50
    compile: bool = False  # torch.compile the training step
    grad_clip: float | None = None  # clip the gradient's global norm to this

    def __post_init__(self) -> None:
        for name in ("iterations", "batch", "checkpoint_every", "validate_every", "log_every"):
            if getattr(self, name) < 1:
                raise InputError(f"{name}: must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0:
            raise InputError(f"lr: must be > 0, got {self.lr}")
        if self.grad_clip is not None and self.grad_clip <= 0:
            raise InputError(f"grad_clip: must be > 0, got {self.grad_clip}")


class Recipe(Protocol):
    """What a model contributes to training."""

    kind: str  # checkpoint kind, e.g. "drmm"
    model: nn.Module
    train_data: Tensor | tuple[Tensor, ...]  # (rows, ...) on the training device, or several sharing rows
    settings: dict  # recipe options a resumed run must share (e.g. the DRMM's alpha and data selection)
    metadata: ModelMetadata | None  # what the model will describe (skeleton, layout, ...); None for bare data
    metric_names: tuple[str, ...]  # keys of `loss`'s metrics, in log order
    validation_names: tuple[str, ...]  # keys of `validate`'s result

    def initialize(self) -> None: ...  # data-dependent initialisation from train_data
    def stage(self, iteration: int) -> str: ...
    def lr_factor(self, iteration: int) -> float: ...
    def loss(self, module: nn.Module, batch, iteration: int) -> tuple[Tensor, dict[str, Tensor]]: ...
    def validate(self) -> dict[str, float]: ...

    # Optional: a recipe with training state of its own also has state_dict() -> dict and
    # load_state_dict(dict); the trainer saves it in checkpoints ("recipe_state") and restores it.


class Interrupted(KeyboardInterrupt):
    """Training stopped by a signal after saving a checkpoint."""

    def __init__(self, iteration: int, path: Path) -> None:
        super().__init__(f"interrupted at iteration {iteration}; checkpoint saved to {path}; rerun with --resume")
        self.iteration = iteration


@contextmanager
def stop_requests() -> Iterator[list[bool]]:
    """Turn SIGINT/SIGTERM into a flag checked between iterations, so a checkpoint can be written."""
    flag = [False]

    def request_stop(signum, frame) -> None:  # noqa: ARG001
        flag[0] = True

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield flag
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class Trainer:
    """Runs a recipe to `config.iterations`, writing `checkpoint` (and `checkpoint`.csv)."""

    def __init__(self, recipe: Recipe, config: TrainConfig, checkpoint: str | Path, topology: Topology) -> None:
        self.recipe, self.config, self.topology = recipe, config, topology
        self.checkpoint = Path(checkpoint)
        self.log_path = self.checkpoint.with_suffix(self.checkpoint.suffix + ".csv")
        self.model = recipe.model.to(topology.device)
        fused = topology.device.type in ("cpu", "cuda")
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr, fused=fused)
        self.batches = torch.Generator().manual_seed(config.seed + 1000 * topology.rank)
        self.iteration = 0

    # State ---------------------------------------------------------------------------------

    def metadata(self) -> ModelMetadata | None:
        """The model's metadata as of now: the recipe's, with this run's settings and progress."""
        if self.recipe.metadata is None:
            return None
        return replace(
            self.recipe.metadata, recipe=self.recipe.settings, training=asdict(self.config), iteration=self.iteration
        )

    def state(self) -> dict:
        cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []
        metadata = self.metadata()
        progress = {"train": asdict(self.config), "recipe": self.recipe.settings, "iteration": self.iteration}
        return (
            {
                "kind": self.recipe.kind,
                "config": self.model.config.to_dict(),
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "rng": {"torch": torch.get_rng_state(), "cuda": cuda, "batches": self.batches.get_state()},
            }
            | (progress if metadata is None else metadata.entries())
            | self.recipe_state()
        )

    def recipe_state(self) -> dict:
        """A recipe's own training state (aVIPS: its frozen copy and multipliers), for recipes that keep one."""
        state_dict = getattr(self.recipe, "state_dict", None)
        return {} if state_dict is None else {"recipe_state": state_dict()}

    def save(self) -> None:
        if self.topology.is_main:
            save_checkpoint(self.checkpoint, self.state())

    def resume(self) -> None:
        """Load model, optimiser, RNG states and iteration from `checkpoint`."""
        payload = load_checkpoint(self.checkpoint, kind=self.recipe.kind, map_location=self.topology.device)
        if payload["config"] != self.model.config.to_dict():
            raise InputError(f"{self.checkpoint}: model config {payload['config']} differs from the requested one")
        saved = {k: v for k, v in payload["train"].items() if k != "compile"} | payload.get("recipe", {})
        wanted = {k: v for k, v in asdict(self.config).items() if k != "compile"} | self.recipe.settings
        differing = [f"{k} ({saved.get(k)} in the checkpoint, {v} now)" for k, v in wanted.items() if saved.get(k) != v]
        if differing:
            raise InputError(f"{self.checkpoint}: cannot resume with other settings: {', '.join(differing)}")
        self.model.load_state_dict(payload["model"])
        self.optimizer.load_state_dict(payload["optimizer"])
        if "recipe_state" in payload:
            self.recipe.load_state_dict(payload["recipe_state"])
        self.iteration = int(payload["iteration"])
        rng = payload["rng"]
        torch.set_rng_state(rng["torch"].cpu())
        if rng["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([state.cpu() for state in rng["cuda"]])
        self.batches.set_state(rng["batches"].cpu())

    # Loop ----------------------------------------------------------------------------------

    def run(self, resume: bool = False) -> dict[str, float]:
        """Train to the end; returns the last validation metrics.

        Raises:
            Interrupted: after saving a checkpoint, when SIGINT/SIGTERM arrived.
        """
        config, topology, recipe = self.config, self.topology, self.recipe
        if resume:
            self.resume()
        else:
            torch.manual_seed(config.seed + topology.rank)
            recipe.initialize()
        module: nn.Module = self.model
        if topology.distributed:
            # Stages that leave terms out leave parameters without gradients.
            module = DistributedDataParallel(module, find_unused_parameters=True)
        if config.compile:
            module = compile_step(module, topology.device)
        latest_validation: dict[str, float] = {}
        bar = tqdm(
            total=config.iterations, initial=self.iteration, disable=not topology.is_main, unit="it", dynamic_ncols=True
        )
        started, started_iteration = time.perf_counter(), self.iteration
        with self.log_writer(append=resume) as write_row, stop_requests() as stop:
            while self.iteration < config.iterations:
                if any_rank(stop[0], topology):
                    self.save()
                    raise Interrupted(self.iteration, self.checkpoint)
                iteration = self.iteration
                lr = config.lr * recipe.lr_factor(iteration)
                for group in self.optimizer.param_groups:
                    group["lr"] = lr
                loss, metrics = recipe.loss(module, self.next_batch(), iteration)
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if config.grad_clip is not None:
                    metrics = metrics | {
                        "grad_norm": nn.utils.clip_grad_norm_(self.model.parameters(), config.grad_clip)
                    }
                self.optimizer.step()
                self.iteration += 1
                bar.update(1)
                last = self.iteration == config.iterations
                validation = {}
                if topology.is_main and (last or self.iteration % config.validate_every == 0):
                    validation = latest_validation = recipe.validate()
                if self.iteration % config.log_every == 0 or last or validation:
                    values = {"loss": loss.item()} | {name: value.item() for name, value in metrics.items()}
                    rate = (self.iteration - started_iteration) / (time.perf_counter() - started)
                    bar.set_postfix(
                        {k: f"{v:.4g}" for k, v in values.items()}
                        | {"lr": f"{lr:.2e}", "stage": recipe.stage(iteration)}
                        | {k: f"{v:.4g}" for k, v in validation.items()},
                        refresh=False,
                    )
                    if topology.is_main:
                        write_row(iteration + 1, recipe.stage(iteration), lr, values, validation, rate)
                if last or self.iteration % config.checkpoint_every == 0:
                    self.save()
        bar.close()
        self.model.metadata = self.metadata()
        return latest_validation

    def next_batch(self) -> Tensor | tuple[Tensor, ...]:
        data = self.recipe.train_data
        first = data[0] if isinstance(data, tuple) else data
        rows = torch.randint(0, first.shape[0], (self.config.batch,), generator=self.batches).to(first.device)
        return tuple(part[rows] for part in data) if isinstance(data, tuple) else data[rows]

    @contextmanager
    def log_writer(self, append: bool) -> Iterator:
        """A CSV row writer (main process only); a fresh run starts a fresh log."""
        if not self.topology.is_main:
            yield lambda *args: None
            return
        columns = ["iteration", "stage", "lr", "loss", *self.recipe.metric_names, *self.recipe.validation_names]
        columns.append("iterations_per_s")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        exists = append and self.log_path.is_file()
        with open(self.log_path, "a" if exists else "w", newline="") as file:
            writer = csv.writer(file)
            if not exists:
                writer.writerow(columns)

            def write_row(iteration, stage, lr, values, validation, rate) -> None:
                merged = values | validation
                row = [iteration, stage, f"{lr:.6g}"] + [_format(merged.get(name)) for name in columns[3:-1]]
                writer.writerow(row + [f"{rate:.3f}"])
                file.flush()

            yield write_row


def _format(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"


CPU_VECTOR_BITS = 256
"""Vector width of torch.compile's CPU code: torch 2.13 miscompiles the DRMM's training step with
512-bit vectors (the process dies with "malloc(): unaligned tcache chunk detected" on AVX-512 CPUs);
256-bit code is correct there and on every x86-64 CPU since AVX2."""


def compile_step(module: nn.Module, device: torch.device) -> nn.Module:
    """torch.compile(module), with CPU code of CPU_VECTOR_BITS vectors."""
    if device.type == "cpu":
        import torch._inductor.config as inductor  # noqa: PLC0415 - only when compiling

        inductor.cpp.simdlen = CPU_VECTOR_BITS
    return torch.compile(module)


def check_output(out: Path, resume: bool, overwrite: bool) -> None:
    """Refuse to clobber a checkpoint without `overwrite`, or to resume a missing one."""
    if out.exists() and not (resume or overwrite):
        raise InputError(f"{out} exists; pass --resume to continue it or --overwrite to replace it")
    if resume and not out.exists():
        raise InputError(f"{out}: nothing to resume")


def train(
    recipe: Recipe,
    config: TrainConfig,
    out: Path,
    topology: Topology,
    summary: str,
    resume: bool = False,
    export: Path | None = None,
) -> dict[str, float]:
    """Train a recipe into `out` (resuming it with `resume`), logging `summary` first and the outcome after.

    Args:
        export: also write the model without its training state here when done (to ship it).
    Returns:
        the last validation figures.
    """
    if topology.is_main:
        processes = f" x {topology.world_size} processes" if topology.distributed else ""
        log.info("%s, %s%s", summary, topology.device, processes)
    validation = Trainer(recipe, config, out, topology).run(resume=resume)
    if topology.is_main:
        figures = ", ".join(f"{k} {v:.2f}" for k, v in validation.items())
        log.info("wrote %s%s", out, f" ({figures})" if figures else "")
        if export:
            size = export_checkpoint(out, export)
            log.info("exported %s (%.1f MiB)", export, size / 2**20)
    return validation
