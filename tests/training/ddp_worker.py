"""One process of the DDP test: trains a small DRMM with the shared trainer, saves its replica's weights.

Run by tests/training/test_distributed.py under torchrun: ddp_worker.py OUT_DIR
"""

import sys
from pathlib import Path

import torch

from motion.models import DRMM, DRMMConfig
from training.distributed import process_group
from training.drmm import Curriculum, DRMMRecipe
from training.trainer import TrainConfig, Trainer


def main() -> None:
    out = Path(sys.argv[1])
    with process_group("cpu") as topology:
        data = torch.randn(4096, 6, generator=torch.Generator().manual_seed(0)).cumsum(1)
        config = TrainConfig(iterations=30, batch=64, checkpoint_every=1000, validate_every=1000)
        model = DRMM(DRMMConfig(dim=6, layers=3, components=8))
        recipe = DRMMRecipe(model, Curriculum(config.iterations), data)
        Trainer(recipe, config, out / "ddp.pt", topology).run()
        torch.save(model.state_dict(), out / f"rank{topology.rank}.pt")


if __name__ == "__main__":
    main()
