"""Training a DRMM for inverse kinematics on random configurations of a task (DRMM paper, Sec. 4.1)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from motion.ik.tasks import ik_task, standardisation
from motion.models.drmm import DRMM, DRMMConfig
from training.distributed import process_group
from training.drmm import LR, Curriculum, DRMMRecipe
from training.trainer import TrainConfig, check_output, train

VAL_ROWS = 4096
VAL_SEED_OFFSET = 1  # the val vectors come from seed + 1: never the training draws


@dataclass(frozen=True)
class IKTraining:
    """What an IK DRMM run sets; defaults are the paper's (10 layers x 256 components, 1M vectors,
    500k iterations at batch 256, Table 1's learning rate); a CPU run takes fewer iterations.

    Attributes:
        task: "humanoid2d" or "panda".
        observations: random training vectors drawn (seeded by schedule.seed).
    """

    task: str = "humanoid2d"
    layers: int = 10
    components: int = 256
    observations: int = 1_000_000
    regularization: float = Curriculum.regularization
    val_passes: int = 8
    schedule: TrainConfig = field(default_factory=lambda: TrainConfig(iterations=500_000, lr=LR, compile=True))


def train_ik_drmm(
    out: str | Path,
    config: IKTraining | None = None,
    *,
    device: str = "auto",
    resume: bool = False,
    overwrite: bool = False,
    export: str | Path | None = None,
) -> dict[str, float]:
    """Train a DRMM on a task's random observations into the checkpoint `out` (log: OUT.csv).

    The checkpoint's recipe records the task and the standardisation, so `motion.ik.DrmmIK.load`
    rebuilds the solver from it alone.

    Returns:
        the last validation figures ({"val_ll": nats per standardised vector}).
    Raises:
        InputError: unknown task, `out` exists (without resume or overwrite), or a resume with
            other settings.
    """
    config, out = config or IKTraining(), Path(out)
    task = ik_task(config.task)
    check_output(out, resume, overwrite)
    with process_group(device) as topology:
        seed = config.schedule.seed
        observations = task.random_observations(config.observations, torch.Generator().manual_seed(seed))
        mean, sd = standardisation(observations)
        val = task.random_observations(VAL_ROWS, torch.Generator().manual_seed(seed + VAL_SEED_OFFSET))
        model_config = DRMMConfig(dim=len(task.variables), layers=config.layers, components=config.components)
        torch.manual_seed(seed)
        recipe = DRMMRecipe(
            DRMM(model_config),
            Curriculum(config.schedule.iterations, config.regularization),
            ((observations - mean) / sd).to(topology.device),
            ((val - mean) / sd).to(topology.device),
            val_passes=config.val_passes,
            settings={
                "ik_task": task.name,
                "observations": config.observations,
                "mean": mean.tolist(),
                "sd": sd.tolist(),
            },
        )
        summary = (
            f"IK DRMM ({task.name}) L={model_config.layers} K={model_config.components} D={model_config.dim} "
            f"({recipe.model.parameter_count:,} parameters) on {config.observations:,} random vectors, "
            f"{config.schedule.iterations:,} iterations, batch {config.schedule.batch}"
        )
        return train(recipe, config.schedule, out, topology, summary, resume, Path(export) if export else None)
