"""Training: the loop every model shares (trainer, distributed data parallel, data selection) and each
model's objective, curriculum and typed `train_*` function; imports motion only."""

from training.data import DataSelection
from training.drmm import DRMMTraining, train_drmm
from training.hgvae import HGVAETraining, train_hgvae
from training.mdn import MDNTraining, train_mdn
from training.trainer import TrainConfig

__all__ = [
    "DRMMTraining",
    "DataSelection",
    "HGVAETraining",
    "MDNTraining",
    "TrainConfig",
    "train_drmm",
    "train_hgvae",
    "train_mdn",
]
