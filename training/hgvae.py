"""Training an HG-VAE on Parquet windows (HG-VAE paper, Sec. 5), and `train_hgvae()`.

The loss is the negative ELBO (Eq. 1) per window, nats, with the KL weight warmed up linearly
from 0.001 to 1 over the first 200 epochs; Adam at 1e-3, batch 800, gradient norm clipped at
100. An epoch is ceil(rows / batch) iterations of the shared trainer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from motion.checkpoint import ModelMetadata
from motion.errors import InputError
from motion.models.hgvae import HGVAE, HGVAEConfig
from training.data import DataSelection, Selection
from training.distributed import process_group
from training.trainer import TrainConfig, check_output, train

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
        val_data: tuple[Tensor, Tensor] | None = None,
        metadata: ModelMetadata | None = None,
        settings: dict | None = None,
    ) -> None:
        """
        Args:
            train_data, val_data: windows (rows, T*J*3) metres and labels (rows,) int64
                (class index, NO_LABEL for an unconditional model).
            metadata: what the model describes (skeleton, layout, rate, labels, data).
            settings: more recipe settings a resumed run must share (the data selection).
        """
        self.model, self.warmup, self.train_data, self.val_data = model, warmup, train_data, val_data
        self.metadata = metadata
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


@dataclass(frozen=True)
class HGVAETraining:
    """What an HG-VAE training run sets; the defaults are the HG-VAE paper's (Sec. 5). The schedule
    counts epochs (passes over the training windows).

    Attributes:
        levels, stochastic_depth, features, latent_size, blocks: the architecture (HGVAEConfig);
            stochastic_depth None keeps every level stochastic.
        conditional: append the one-hot content label to z_0 (a class-conditional model).
        epochs, batch, lr, grad_clip: the optimisation (Adam, gradient-norm clipping).
        kl_warmup_epochs, kl_start: the KL weight rises linearly from kl_start to 1 over these epochs.
        checkpoint_every, validate_every: epochs between checkpoints and validations.
        seed, compile: as in TrainConfig.
    """

    levels: int = HGVAEConfig.levels
    stochastic_depth: int | None = None
    features: int = HGVAEConfig.features
    latent_size: int = HGVAEConfig.latent_size
    blocks: int = HGVAEConfig.blocks
    conditional: bool = False
    epochs: int = 5000
    batch: int = 800
    lr: float = 1e-3
    grad_clip: float = 100.0
    kl_warmup_epochs: float = 200
    kl_start: float = 0.001
    checkpoint_every: float = 10
    validate_every: float = 10
    seed: int = 0
    compile: bool = False

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise InputError(f"epochs: must be >= 1, got {self.epochs}")

    def schedule(self, per_epoch: int) -> TrainConfig:
        """The shared trainer's settings, for `per_epoch` iterations per epoch."""
        every = lambda epochs: max(1, round(epochs * per_epoch))  # noqa: E731
        return TrainConfig(
            iterations=self.epochs * per_epoch,
            batch=self.batch,
            lr=self.lr,
            seed=self.seed,
            checkpoint_every=every(self.checkpoint_every),
            validate_every=every(self.validate_every),
            log_every=min(50, per_epoch),
            compile=self.compile,
            grad_clip=self.grad_clip,
        )


def train_hgvae(
    data: str | Path,
    out: str | Path,
    config: HGVAETraining | None = None,
    selection: DataSelection | None = None,
    *,
    device: str = "auto",
    resume: bool = False,
    overwrite: bool = False,
    export: str | Path | None = None,
) -> dict[str, float]:
    """Train an HG-VAE on Parquet windows (`motion preprocess`) into the checkpoint `out`.

    A class-conditional model's classes are the content labels of its training rows, sorted; they
    travel with the model (`model.metadata.labels`).

    Args:
        data: the windows folder (or the preprocessing output folder holding it).
        out: the checkpoint; its log goes to OUT.csv.
        config: architecture and schedule (default: HGVAETraining()).
        selection: the rows trained and validated on (default: DataSelection()).
        device, resume, overwrite, export: as in training.drmm.train_drmm.
    Returns:
        the last validation figures (val_elbo, nats per window; val_mse_cm2).
    Raises:
        InputError: bad data or settings, `out` exists (without resume or overwrite), or a resume
            with other settings.
    """
    config, selection, out = config or HGVAETraining(), selection or DataSelection(), Path(out)
    check_output(out, resume, overwrite)
    with process_group(device) as topology:
        rows = Selection(data, "windows", selection)
        dataset = rows.data
        if len(rows.train) < config.batch:
            raise InputError(f"{data}: {len(rows.train)} training windows, fewer than one batch of {config.batch}")
        names = sorted({str(c) for c in dataset.content[rows.train] if c is not None}) if config.conditional else []
        layout = dataset.layout
        try:
            model_config = HGVAEConfig(
                joints=layout.joints,
                frames=layout.frames,
                levels=config.levels,
                features=config.features,
                latent_size=config.latent_size,
                blocks=config.blocks,
                classes=len(names),
                stochastic_depth=config.stochastic_depth,
            )
        except ValueError as err:
            raise InputError(str(err)) from None
        per_epoch = math.ceil(len(rows.train) / (config.batch * topology.world_size))
        metadata = rows.metadata(labels=tuple(names), epochs=config.epochs)

        def tensors(indices: np.ndarray) -> tuple[Tensor, Tensor]:
            windows = torch.from_numpy(dataset.features[indices]).to(topology.device)
            if config.conditional:
                labels = metadata.label_indices(dataset.content[indices], str(data))
            else:
                labels = np.full(len(indices), NO_LABEL, dtype=np.int64)
            return windows, torch.from_numpy(labels).to(topology.device)

        torch.manual_seed(config.seed)  # the initial weights follow the seed, not what ran before
        recipe = HGVAERecipe(
            HGVAE(model_config),
            KLWarmup(round(config.kl_warmup_epochs * per_epoch), config.kl_start),
            tensors(rows.train),
            tensors(rows.val) if len(rows.val) else None,
            metadata,
            settings=selection.settings() | {"conditional": config.conditional},
        )
        summary = (
            f"HG-VAE {model_config.levels} levels (nodes {model_config.level_nodes}, stochastic depth "
            f"{sum(model_config.stochastic)}), F={model_config.features} ({recipe.model.parameter_count:,} parameters) "
            f"on {len(rows.train):,} windows, {config.epochs} epochs of {per_epoch} iterations, batch {config.batch}"
            + (f", classes: {', '.join(names)}" if names else "")
        )
        return train(
            recipe, config.schedule(per_epoch), out, topology, summary, resume, Path(export) if export else None
        )
