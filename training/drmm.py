"""Training a DRMM: the 3-stage curriculum of the DRMM paper (Sec. 3.4), and `train_drmm()`.

Stages, one third of the iterations each:
1. the proxy objective sum_l L_l with gradient stops between layers, without the weights w
   and the categorical streams, plus the orphan-component term;
2. the same with the categorical streams;
3. everything, no gradient stops, the objective interpolated linearly from the proxy to the
   log-likelihood L_L, and the learning rate dropped 10x and annealed linearly to 0.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from motion.checkpoint import ModelMetadata
from motion.errors import InputError
from motion.models.drmm import DRMM, DRMMConfig, Objective
from training.data import DataSelection, Selection
from training.distributed import process_group
from training.trainer import TrainConfig, check_output, train

log = logging.getLogger(__name__)

STAGES = ("1-proxy", "2-latents", "3-likelihood")
INIT_ROWS_PER_COMPONENT = 8
LR, LR_2D = 0.002, 0.005  # Table 1: Adam's learning rate for segments and for the 2-D toy data


@dataclass(frozen=True)
class Curriculum:
    """Stage, objective, proxy-to-likelihood mix and learning-rate factor per iteration."""

    iterations: int
    # alpha of Sec. 3.4. Table 1 lists 0.1, the text 0.001, the reference code 0.01;
    # benchmarks/drmm_ablations.py compares them (figures in the README).
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
        val_data: Tensor | None = None,
        metadata: ModelMetadata | None = None,
        val_passes: int = 8,
        settings: dict | None = None,
    ) -> None:
        """
        Args:
            train_data, val_data: (rows, D) segment vectors on the training device.
            metadata: what the model describes (skeleton, layout, rate, data); None for bare vectors.
            settings: more recipe settings a resumed run must share (the data selection).
        """
        self.model, self.curriculum, self.train_data = model, curriculum, train_data
        self.val_data, self.val_passes, self.metadata = val_data, val_passes, metadata
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


@dataclass(frozen=True)
class DRMMTraining:
    """What a DRMM training run sets; the defaults are the DRMM paper's (Sec. 3.4, Table 1).

    Attributes:
        layers, components: L mixture layers of K components.
        regularization: alpha, the orphan-component weight (Curriculum).
        val_passes: importance passes S of the validation log-likelihood.
        schedule: iterations, batch, Adam's learning rate of stages 1-2, seed, checkpoints, logs.
    """

    layers: int = DRMMConfig.layers
    components: int = DRMMConfig.components
    regularization: float = Curriculum.regularization
    val_passes: int = 8
    schedule: TrainConfig = TrainConfig(iterations=20000, lr=LR, compile=True)


def train_drmm(
    data: str | Path,
    out: str | Path,
    config: DRMMTraining | None = None,
    selection: DataSelection | None = None,
    *,
    device: str = "auto",
    resume: bool = False,
    overwrite: bool = False,
    export: str | Path | None = None,
) -> dict[str, float]:
    """Train a DRMM on Parquet segments or poses (`motion preprocess`) into the checkpoint `out`.

    Under torchrun, each process trains a DistributedDataParallel replica on its own batches.

    Args:
        data: the segments or poses folder (or the preprocessing output folder holding segments/).
        out: the checkpoint; its log goes to OUT.csv.
        config: architecture, curriculum and schedule (default: DRMMTraining()).
        selection: the rows trained and validated on (default: DataSelection()).
        device: "auto" (a GPU when there is one), "cpu" or "cuda".
        resume: continue `out`; overwrite: replace it.
        export: also write the model without its training state here (to ship it).
    Returns:
        the last validation figures ({"val_ll": nats per vector} when validating).
    Raises:
        InputError: bad data or settings, `out` exists (without resume or overwrite), or a resume
            with other settings.
    """
    config, selection, out = config or DRMMTraining(), selection or DataSelection(), Path(out)
    check_output(out, resume, overwrite)
    with process_group(device) as topology:
        rows = Selection(data, ("segments", "poses"), selection)
        train_rows = rows.data.features[rows.train]
        if len(train_rows) < config.schedule.batch:
            raise InputError(
                f"{data}: {len(train_rows)} training rows, fewer than one batch of {config.schedule.batch}"
            )
        val_data = torch.from_numpy(rows.data.features[rows.val]).to(topology.device) if len(rows.val) else None
        model_config = DRMMConfig(dim=train_rows.shape[1], layers=config.layers, components=config.components)
        torch.manual_seed(config.schedule.seed)  # the initial weights follow the seed, not what ran before
        recipe = DRMMRecipe(
            DRMM(model_config),
            Curriculum(config.schedule.iterations, config.regularization),
            torch.from_numpy(train_rows).to(topology.device),
            val_data,
            rows.metadata(),
            val_passes=config.val_passes,
            settings=selection.settings(),
        )
        summary = (
            f"DRMM L={model_config.layers} K={model_config.components} D={model_config.dim} "
            f"({recipe.model.parameter_count:,} parameters) on {len(train_rows):,} vectors, "
            f"{config.schedule.iterations:,} iterations, batch {config.schedule.batch}"
        )
        return train(recipe, config.schedule, out, topology, summary, resume, Path(export) if export else None)
