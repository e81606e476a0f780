"""Training a mixture density network on Parquet segments, and `train_mdn()`.

The loss is the negative log-likelihood of the next poses given the context and goals, nats
per segment; Adam, the learning rate held for two thirds of the run and then annealed
linearly to 0 (as the DRMM's last stage is). A random `forward_dropout` of each batch has its
forward goal hidden (see motion.models.mdn), so the network serves both playback modes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from motion.checkpoint import ModelMetadata
from motion.errors import InputError
from motion.layout import SegmentLayout
from motion.models.mdn import MDN, MDNConfig, mdn_input_size, mdn_inputs, mdn_output_size
from training.data import DataSelection, Selection
from training.distributed import process_group
from training.trainer import TrainConfig, check_output, train

HOLD = 2 / 3  # of the run at the full learning rate, before the linear anneal


class MDNRecipe:
    """The MDN's part of training: the conditional NLL and its validation with and without the forward goal."""

    kind = "mdn"
    metric_names = ("nll",)
    validation_names = ("val_nll", "val_nll_no_forward")

    def __init__(
        self, model: MDN, layout: SegmentLayout, iterations: int, train_data: Tensor, val_data: Tensor | None = None,
        metadata: ModelMetadata | None = None, settings: dict | None = None,
    ) -> None:  # fmt: skip
        """
        Args:
            train_data, val_data: (rows, D) segment vectors.
            metadata: what the model describes (skeleton, layout, rate, data).
            settings: recipe settings a resumed run must share (the data selection).
        """
        self.model, self.layout, self.iterations = model, layout, iterations
        self.train_data, self.val_data, self.metadata = train_data, val_data, metadata
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


@dataclass(frozen=True)
class MDNTraining:
    """What an MDN training run sets (motion.models.mdn.MDNConfig, and the schedule).

    Attributes:
        components, hidden, layers, min_scale, forward_dropout: as in MDNConfig.
        schedule: iterations, batch, Adam's learning rate, gradient-norm clipping, seed, checkpoints.
    """

    components: int = MDNConfig.components
    hidden: int = MDNConfig.hidden
    layers: int = MDNConfig.layers
    min_scale: float = MDNConfig.min_scale
    forward_dropout: float = MDNConfig.forward_dropout
    schedule: TrainConfig = TrainConfig(iterations=20000, lr=1e-3, grad_clip=100.0)


def train_mdn(
    data: str | Path,
    out: str | Path,
    config: MDNTraining | None = None,
    selection: DataSelection | None = None,
    *,
    device: str = "auto",
    resume: bool = False,
    overwrite: bool = False,
    export: str | Path | None = None,
) -> dict[str, float]:
    """Train an MDN (next poses given context and goals) on Parquet segments into the checkpoint `out`.

    Args:
        data, out, selection, device, resume, overwrite, export: as in training.drmm.train_drmm.
        config: architecture and schedule (default: MDNTraining()).
    Returns:
        the last validation figures (val_nll and val_nll_no_forward, nats per segment).
    """
    config, selection, out = config or MDNTraining(), selection or DataSelection(), Path(out)
    check_output(out, resume, overwrite)
    with process_group(device) as topology:
        rows = Selection(data, "segments", selection)
        train_rows = rows.data.features[rows.train]
        if len(train_rows) < config.schedule.batch:
            raise InputError(
                f"{data}: {len(train_rows)} training rows, fewer than one batch of {config.schedule.batch}"
            )
        layout = rows.data.layout
        val_data = torch.from_numpy(rows.data.features[rows.val]).to(topology.device) if len(rows.val) else None
        try:
            model_config = MDNConfig(
                inputs=mdn_input_size(layout),
                outputs=mdn_output_size(layout),
                components=config.components,
                hidden=config.hidden,
                layers=config.layers,
                min_scale=config.min_scale,
                forward_dropout=config.forward_dropout,
            )
        except ValueError as err:
            raise InputError(str(err)) from None
        torch.manual_seed(config.schedule.seed)  # the initial weights follow the seed, not what ran before
        recipe = MDNRecipe(
            MDN(model_config), layout, config.schedule.iterations, torch.from_numpy(train_rows).to(topology.device),
            val_data, rows.metadata(), settings=selection.settings(),
        )  # fmt: skip
        summary = (
            f"MDN K={model_config.components}, {model_config.layers}x{model_config.hidden} "
            f"({recipe.model.parameter_count:,} parameters) on {len(train_rows):,} segments, "
            f"{config.schedule.iterations:,} iterations, batch {config.schedule.batch}"
        )
        return train(recipe, config.schedule, out, topology, summary, resume, Path(export) if export else None)
