"""Training a DRMM: the 3-stage curriculum of the DRMM paper (Sec. 3.4) and `motion train drmm`.

Stages, one third of the iterations each:
1. the proxy objective sum_l L_l with gradient stops between layers, without the weights w
   and the categorical streams, plus the orphan-component term;
2. the same with the categorical streams;
3. everything, no gradient stops, the objective interpolated linearly from the proxy to the
   log-likelihood L_L, and the learning rate dropped 10x and annealed linearly to 0.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from motion.cli import run_guarded
from motion.errors import InputError
from motion.models.drmm import DRMM, DRMMConfig, Objective
from training.distributed import process_group
from training.options import (
    Selection,
    add_data_arguments,
    add_iteration_arguments,
    add_run_arguments,
    check_output,
    train_and_report,
)
from training.trainer import TrainConfig

log = logging.getLogger(__name__)

STAGES = ("1-proxy", "2-latents", "3-likelihood")
INIT_ROWS_PER_COMPONENT = 8
LR, LR_2D = 0.002, 0.005  # Table 1: Adam's learning rate for segments and for the 2-D toy data


@dataclass(frozen=True)
class Curriculum:
    """Stage, objective, proxy-to-likelihood mix and learning-rate factor per iteration."""

    iterations: int
    # alpha of Sec. 3.4. Table 1 lists 0.1, the text 0.001, the reference code 0.01. Validation
    # log-likelihood after 3,000 iterations on the locomotion segments: 1,449 nats with 0.1,
    # 1,444 with 0.01, 1,430 with 0.001 (benchmarks/drmm_ablations.py).
    regularization: float = 0.1

    def stage(self, iteration: int) -> int:
        """0, 1 or 2."""
        return min(3 * iteration // self.iterations, 2)

    def stage_progress(self, iteration: int) -> float:
        """Fraction [0, 1) of the current stage done."""
        return 3 * iteration / self.iterations - self.stage(iteration)

    def objective(self, iteration: int) -> Objective:
        stage = self.stage(iteration)
        return Objective(
            latent_terms=stage >= 1,
            weight_terms=stage == 2,
            detach_layers=stage < 2,
            regularization=self.regularization if stage < 2 else 0.0,
        )

    def likelihood_mix(self, iteration: int) -> float:
        return self.stage_progress(iteration) if self.stage(iteration) == 2 else 0.0

    def lr_factor(self, iteration: int) -> float:
        return 0.1 * (1.0 - self.stage_progress(iteration)) if self.stage(iteration) == 2 else 1.0


class DRMMRecipe:
    """The DRMM's part of training: objective, curriculum, validation log-likelihood."""

    kind = "drmm"
    metric_names = ("ll", "regularization")
    validation_names = ("val_ll",)

    def __init__(
        self,
        model: DRMM,
        curriculum: Curriculum,
        train_data: Tensor,
        val_data: Tensor | None,
        extra: dict,
        val_passes: int = 8,
        settings: dict | None = None,
    ) -> None:
        self.model, self.curriculum, self.train_data = model, curriculum, train_data
        self.val_data, self.val_passes, self.extra = val_data, val_passes, extra
        self.settings = {"regularization": curriculum.regularization} | (settings or {})

    def initialize(self) -> None:
        """Data-dependent initialisation from INIT_ROWS_PER_COMPONENT * K random training vectors."""
        count = min(len(self.train_data), INIT_ROWS_PER_COMPONENT * self.model.config.components)
        rows = torch.randperm(len(self.train_data), device=self.train_data.device)[:count]
        self.model.initialize(self.train_data[rows])

    def stage(self, iteration: int) -> str:
        return STAGES[self.curriculum.stage(iteration)]

    def lr_factor(self, iteration: int) -> float:
        return self.curriculum.lr_factor(iteration)

    def loss(self, module: nn.Module, batch: Tensor, iteration: int) -> tuple[Tensor, dict[str, Tensor]]:
        terms = module(batch, self.curriculum.objective(iteration))
        mix = self.curriculum.likelihood_mix(iteration)
        layer_ll = terms.layer_log_likelihood
        objective = layer_ll[-1] if mix == 1.0 else (1.0 - mix) * layer_ll.sum() + mix * layer_ll[-1]
        # "ll" is L_L under the stage's terms: stages 1-2 leave out w and (stage 1) the latents.
        return -objective + terms.regularization, {"ll": layer_ll[-1].detach(), "regularization": terms.regularization}

    def validate(self) -> dict[str, float]:
        if self.val_data is None:
            return {}
        generator = torch.Generator(self.val_data.device).manual_seed(0)
        ll = self.model.log_likelihood(self.val_data, passes=self.val_passes, generator=generator)
        return {"val_ll": ll.mean().item()}

    def checkpoint_extra(self) -> dict:
        return self.extra


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="motion train drmm",
        description="Train a Deep Residual Mixture Model on Parquet segments (DRMM paper, Sec. 3.4). "
        "Launch with torchrun for several GPUs or nodes.",
    )
    add_data_arguments(parser)
    parser.add_argument("--layers", type=int, default=4, help="L, mixture layers")
    parser.add_argument("--components", type=int, default=512, help="K, components per layer")
    add_iteration_arguments(parser, LR, "Adam learning rate of stages 1-2 (Table 1)")
    parser.add_argument(
        "--regularization", type=float, default=0.1, help="orphan-component weight alpha (Table 1: 0.1)"
    )
    parser.add_argument("--val-passes", type=int, default=8, help="importance passes S of the validation estimate")
    add_run_arguments(parser, compile_default=True)
    return parser


def run(args: argparse.Namespace) -> int:
    check_output(args)
    with process_group(args.device) as topology:
        selection = Selection(args, "segments")
        train_rows = selection.data.features[selection.train]
        if len(train_rows) < args.batch:
            raise InputError(f"{args.data}: {len(train_rows)} training rows, fewer than one batch of {args.batch}")
        val_data = None
        if len(selection.val):
            val_data = torch.from_numpy(selection.data.features[selection.val]).to(topology.device)
        config = DRMMConfig(dim=train_rows.shape[1], layers=args.layers, components=args.components)
        train_config = TrainConfig(
            iterations=args.iterations,
            batch=args.batch,
            lr=args.lr,
            seed=args.seed,
            checkpoint_every=args.checkpoint_every,
            validate_every=args.validate_every,
            compile=args.compile,
        )
        torch.manual_seed(args.seed)  # the initial weights follow --seed, not what ran before
        recipe = DRMMRecipe(
            DRMM(config),
            Curriculum(args.iterations, args.regularization),
            torch.from_numpy(train_rows).to(topology.device),
            val_data,
            selection.extra(args.data),
            val_passes=args.val_passes,
            settings=selection.settings(),
        )
        summary = (
            f"DRMM L={config.layers} K={config.components} D={config.dim} "
            f"({recipe.model.parameter_count:,} parameters) on {len(train_rows):,} vectors, "
            f"{args.iterations:,} iterations, batch {args.batch}"
        )
        train_and_report(recipe, train_config, args, topology, summary)
        return 0


def main(argv: list[str] | None = None) -> int:
    return run_guarded(run, build_parser().parse_args(argv), "interrupted before training started")


if __name__ == "__main__":
    sys.exit(main())
