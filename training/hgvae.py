"""Training an HG-VAE on Parquet windows (HG-VAE paper, Sec. 5) and `motion train hgvae`.

The loss is the negative ELBO (Eq. 1) per window, nats, with the KL weight warmed up linearly
from 0.001 to 1 over the first 200 epochs; Adam at 1e-3, batch 800, gradient norm clipped at
100. An epoch is ceil(rows / batch) iterations of the shared trainer.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from motion.cli import run_guarded
from motion.errors import InputError
from motion.models.hgvae import HGVAE, HGVAEConfig
from training.distributed import process_group
from training.options import Selection, add_data_arguments, add_run_arguments, check_output, train_and_report
from training.trainer import TrainConfig

NO_LABEL = -1


@dataclass(frozen=True)
class KLWarmup:
    """The KL weight per iteration: linear from `start` to 1 over `iterations`, then 1."""

    iterations: int
    start: float = 0.001

    def weight(self, iteration: int) -> float:
        if iteration >= self.iterations:
            return 1.0
        return self.start + (1.0 - self.start) * iteration / self.iterations


class HGVAERecipe:
    """The HG-VAE's part of training: the warmed-up ELBO and the validation ELBO and MSE."""

    kind = "hgvae"
    metric_names = ("elbo", "kl", "kl_weight", "grad_norm")
    validation_names = ("val_elbo", "val_mse_cm2")

    def __init__(
        self,
        model: HGVAE,
        warmup: KLWarmup,
        train_data: tuple[Tensor, Tensor],
        val_data: tuple[Tensor, Tensor] | None,
        extra: dict,
        settings: dict | None = None,
    ) -> None:
        """
        Args:
            train_data, val_data: windows (rows, T*J*3) metres and labels (rows,) int64
                (class index, NO_LABEL for an unconditional model).
            extra: checkpoint entries (layout, skeleton, fps, data, label names).
        """
        self.model, self.warmup, self.train_data, self.val_data, self.extra = model, warmup, train_data, val_data, extra
        self.settings = {"kl_warmup_iterations": warmup.iterations, "kl_start": warmup.start} | (settings or {})

    def labels(self, labels: Tensor) -> Tensor | None:
        return labels if self.model.config.classes else None

    def initialize(self) -> None:
        """The standardisation statistics from the training windows."""
        self.model.set_statistics(self.train_data[0])

    def stage(self, iteration: int) -> str:
        return "warmup" if iteration < self.warmup.iterations else "elbo"

    def lr_factor(self, iteration: int) -> float:  # noqa: ARG002 - constant rate (Sec. 5)
        return 1.0

    def loss(self, module: nn.Module, batch: tuple[Tensor, Tensor], iteration: int) -> tuple[Tensor, dict[str, Tensor]]:
        windows, labels = batch
        terms = module(windows, self.labels(labels))
        weight = self.warmup.weight(iteration)
        kl = terms.kl.sum(-1)
        loss = -(terms.log_likelihood - weight * kl).mean()
        metrics = {
            "elbo": (terms.log_likelihood - kl).mean().detach(),
            "kl": kl.mean().detach(),
            "kl_weight": torch.tensor(weight),
        }
        return loss, metrics

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        if self.val_data is None:
            return {}
        windows, labels = self.val_data
        was_training = self.model.training
        self.model.eval()
        elbo, squared = [], []
        for first in range(0, len(windows), 800):
            part = windows[first : first + 800]
            terms = self.model(part, self.labels(labels[first : first + 800]), sample=False)
            elbo.append(terms.elbo)
            squared.append((terms.mean.reshape(part.shape) - part).square().mean(-1))
        self.model.train(was_training)
        return {"val_elbo": torch.cat(elbo).mean().item(), "val_mse_cm2": 1e4 * torch.cat(squared).mean().item()}

    def checkpoint_extra(self) -> dict:
        return self.extra


def label_indices(content: np.ndarray, names: list[str], where: str) -> np.ndarray:
    """Class index of each row's content label; InputError when a row has none."""
    lookup = {name: i for i, name in enumerate(names)}
    missing = [i for i, value in enumerate(content) if value not in lookup]
    if missing:
        raise InputError(f"{where}: row {missing[0]} has no content label; --conditional needs one on every row")
    return np.array([lookup[value] for value in content], dtype=np.int64)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="motion train hgvae",
        description="Train a hierarchical graph-convolutional VAE on Parquet windows (HG-VAE paper, Sec. 5). "
        "Launch with torchrun for several GPUs or nodes.",
    )
    add_data_arguments(parser)
    parser.add_argument("--levels", type=int, default=4, help="N, stochastic levels (2..16)")
    parser.add_argument(
        "--stochastic-depth", type=int, help="how many bottom levels are stochastic (default: all; Table 1's study)"
    )
    parser.add_argument("--features", type=int, default=256, help="F, width of the deterministic path (Sec. 5: 256)")
    parser.add_argument("--latent-size", type=int, default=256, help="latent values per level (z_0: 1 node x this)")
    parser.add_argument("--blocks", type=int, default=1, help="graph-convolutional blocks per level and side")
    parser.add_argument(
        "--conditional", action="store_true", help="append the one-hot content label to z_0 (class-conditional)"
    )
    parser.add_argument("--epochs", type=int, default=5000, help="passes over the training windows (Sec. 5: 5000)")
    parser.add_argument("--batch", type=int, default=800, help="windows per iteration (per process under torchrun)")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    parser.add_argument("--grad-clip", type=float, default=100.0, help="gradient norm clipping threshold")
    parser.add_argument("--kl-warmup-epochs", type=float, default=200, help="epochs of linear KL warm-up")
    parser.add_argument("--kl-start", type=float, default=0.001, help="KL weight at the start of the warm-up")
    parser.add_argument("--checkpoint-every", type=float, default=10, help="epochs between checkpoints")
    parser.add_argument("--validate-every", type=float, default=10, help="epochs between validations")
    add_run_arguments(parser, compile_default=False)
    return parser


def run(args: argparse.Namespace) -> int:
    check_output(args)
    if args.epochs < 1:
        raise InputError(f"--epochs must be >= 1, got {args.epochs}")
    with process_group(args.device) as topology:
        selection = Selection(args, "windows")
        data = selection.data
        if len(selection.train) < args.batch:
            raise InputError(
                f"{args.data}: {len(selection.train)} training windows, fewer than one batch of {args.batch}"
            )
        names = sorted({str(c) for c in data.content[selection.train] if c is not None}) if args.conditional else []

        def rows(indices: np.ndarray) -> tuple[Tensor, Tensor]:
            windows = torch.from_numpy(data.features[indices]).to(topology.device)
            if args.conditional:
                labels = label_indices(data.content[indices], names, str(args.data))
            else:
                labels = np.full(len(indices), NO_LABEL, dtype=np.int64)
            return windows, torch.from_numpy(labels).to(topology.device)

        layout = data.layout
        try:
            config = HGVAEConfig(
                joints=layout.joints,
                frames=layout.frames,
                levels=args.levels,
                features=args.features,
                latent_size=args.latent_size,
                blocks=args.blocks,
                classes=len(names),
                stochastic_depth=args.stochastic_depth,
            )
        except ValueError as err:
            raise InputError(str(err)) from None
        per_epoch = math.ceil(len(selection.train) / (args.batch * topology.world_size))
        every = lambda epochs: max(1, round(epochs * per_epoch))  # noqa: E731
        train_config = TrainConfig(
            iterations=args.epochs * per_epoch,
            batch=args.batch,
            lr=args.lr,
            seed=args.seed,
            checkpoint_every=every(args.checkpoint_every),
            validate_every=every(args.validate_every),
            log_every=min(50, per_epoch),
            compile=args.compile,
            grad_clip=args.grad_clip,
        )
        torch.manual_seed(args.seed)  # the initial weights follow --seed, not what ran before
        recipe = HGVAERecipe(
            HGVAE(config),
            KLWarmup(round(args.kl_warmup_epochs * per_epoch), args.kl_start),
            rows(selection.train),
            rows(selection.val) if len(selection.val) else None,
            selection.extra(args.data) | {"labels": names, "epochs": args.epochs, "iterations_per_epoch": per_epoch},
            settings=selection.settings() | {"conditional": args.conditional},
        )
        summary = (
            f"HG-VAE {config.levels} levels (nodes {config.level_nodes}, stochastic depth "
            f"{sum(config.stochastic)}), F={config.features} ({recipe.model.parameter_count:,} parameters) "
            f"on {len(selection.train):,} windows, {args.epochs} epochs of {per_epoch} iterations, batch {args.batch}"
            + (f", classes: {', '.join(names)}" if names else "")
        )
        train_and_report(recipe, train_config, args, topology, summary)
        return 0


def main(argv: list[str] | None = None) -> int:
    return run_guarded(run, build_parser().parse_args(argv), "interrupted before training started")


if __name__ == "__main__":
    sys.exit(main())
