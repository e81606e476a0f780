"""Training a mixture density network on Parquet segments and `motion train mdn`.

The loss is the negative log-likelihood of the next poses given the context and goals, nats
per segment; Adam, the learning rate held for two thirds of the run and then annealed
linearly to 0 (as the DRMM's last stage is). A random `forward_dropout` of each batch has its
forward goal hidden (see motion.models.mdn), so the network serves both playback modes.
"""

from __future__ import annotations

import argparse
import sys

import torch
from torch import Tensor, nn

from motion.cli import run_guarded
from motion.errors import InputError
from motion.layout import SegmentLayout
from motion.models.mdn import MDN, MDNConfig, mdn_inputs
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

HOLD = 2 / 3  # of the run at the full learning rate, before the linear anneal


class MDNRecipe:
    """The MDN's part of training: the conditional NLL and its validation with and without the forward goal."""

    kind = "mdn"
    metric_names = ("nll",)
    validation_names = ("val_nll", "val_nll_no_forward")

    def __init__(
        self, model: MDN, layout: SegmentLayout, iterations: int, train_data: Tensor, val_data: Tensor | None,
        extra: dict, settings: dict | None = None,
    ) -> None:  # fmt: skip
        """
        Args:
            train_data, val_data: (rows, D) segment vectors.
            extra: checkpoint entries (layout, skeleton, fps, data).
        """
        self.model, self.layout, self.iterations = model, layout, iterations
        self.train_data, self.val_data, self.extra = train_data, val_data, extra
        self.settings = settings or {}

    def initialize(self) -> None:
        data = self.train_data
        self.model.set_statistics(mdn_inputs(data, self.layout), data[:, self.layout.next_poses])

    def stage(self, iteration: int) -> str:
        return "hold" if iteration < HOLD * self.iterations else "anneal"

    def lr_factor(self, iteration: int) -> float:
        start = HOLD * self.iterations
        return 1.0 if iteration < start else max(0.0, 1.0 - (iteration - start) / (self.iterations - start))

    def loss(self, module: nn.Module, batch: Tensor, iteration: int) -> tuple[Tensor, dict[str, Tensor]]:  # noqa: ARG002
        known = torch.rand(len(batch), device=batch.device) >= self.model.config.forward_dropout
        nll = -self.model_log_prob(module, mdn_inputs(batch, self.layout, known), batch).mean()
        return nll, {"nll": nll.detach()}

    def model_log_prob(self, module: nn.Module, inputs: Tensor, batch: Tensor) -> Tensor:
        # DDP wraps the module; log_prob is reached through forward so gradients are synchronised.
        return module(inputs, batch[:, self.layout.next_poses])

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        if self.val_data is None:
            return {}
        was_training = self.model.training
        self.model.eval()
        data, figures = self.val_data, {}
        for name, known in (("val_nll", True), ("val_nll_no_forward", False)):
            parts = [
                -self.model.log_prob(mdn_inputs(part, self.layout, known), part[:, self.layout.next_poses])
                for part in data.split(4096)
            ]
            figures[name] = torch.cat(parts).mean().item()
        self.model.train(was_training)
        return figures

    def checkpoint_extra(self) -> dict:
        return self.extra


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="motion train mdn",
        description="Train a mixture density network (next poses given context and goals) on Parquet segments, "
        "the conditional baseline of the DRMM. Launch with torchrun for several GPUs or nodes.",
    )
    add_data_arguments(parser)
    parser.add_argument("--components", type=int, default=16, help="K, mixture components")
    parser.add_argument("--hidden", type=int, default=1024, help="units per hidden layer")
    parser.add_argument("--layers", type=int, default=3, help="hidden layers")
    parser.add_argument("--min-scale", type=float, default=0.01, help="floor of each scale, in sd of its variable")
    parser.add_argument(
        "--forward-dropout", type=float, default=0.5, help="fraction of rows trained with the forward goal hidden"
    )
    add_iteration_arguments(parser, 1e-3)
    parser.add_argument("--grad-clip", type=float, default=100.0, help="gradient norm clipping threshold")
    add_run_arguments(parser, compile_default=False)
    return parser


def run(args: argparse.Namespace) -> int:
    check_output(args)
    with process_group(args.device) as topology:
        selection = Selection(args, "segments")
        train_rows = selection.data.features[selection.train]
        if len(train_rows) < args.batch:
            raise InputError(f"{args.data}: {len(train_rows)} training rows, fewer than one batch of {args.batch}")
        layout = selection.data.layout
        val_data = None
        if len(selection.val):
            val_data = torch.from_numpy(selection.data.features[selection.val]).to(topology.device)
        try:
            config = MDNConfig(
                inputs=layout.context.stop + 5,
                outputs=layout.next_poses.stop - layout.next_poses.start,
                components=args.components,
                hidden=args.hidden,
                layers=args.layers,
                min_scale=args.min_scale,
                forward_dropout=args.forward_dropout,
            )
        except ValueError as err:
            raise InputError(str(err)) from None
        train_config = TrainConfig(
            iterations=args.iterations,
            batch=args.batch,
            lr=args.lr,
            seed=args.seed,
            checkpoint_every=args.checkpoint_every,
            validate_every=args.validate_every,
            compile=args.compile,
            grad_clip=args.grad_clip,
        )
        torch.manual_seed(args.seed)  # the initial weights follow --seed, not what ran before
        recipe = MDNRecipe(
            MDN(config), layout, args.iterations, torch.from_numpy(train_rows).to(topology.device), val_data,
            selection.extra(args.data), settings=selection.settings(),
        )  # fmt: skip
        summary = (
            f"MDN K={config.components}, {config.layers}x{config.hidden} ({recipe.model.parameter_count:,} parameters) "
            f"on {len(train_rows):,} segments, {args.iterations:,} iterations, batch {args.batch}"
        )
        train_and_report(recipe, train_config, args, topology, summary)
        return 0


def main(argv: list[str] | None = None) -> int:
    return run_guarded(run, build_parser().parse_args(argv), "interrupted before training started")


if __name__ == "__main__":
    sys.exit(main())
