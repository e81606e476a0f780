"""Short-run ablations behind two DRMM defaults: how the means are initialised, and alpha.

Trains L=4, K=512 DRMMs for --iterations on the train split of the locomotion segments, then
prints each one's validation log-likelihood (2,048 val vectors, S = 8) and the share of
first-layer components no training vector picks. Variants: initial means picked from
training vectors (ours) or drawn from a Gaussian fit (the reference code), and the orphan
weight alpha at 0.001 (the paper's text), 0.01 (reference code) and 0.1 (Table 1).
Usage: python benchmarks/drmm_ablations.py --data DIR [--iterations 3000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from common import machine

from motion.dataset import load_dataset
from motion.models import DRMM, DRMMConfig
from training.distributed import Topology
from training.drmm import Curriculum, DRMMRecipe
from training.trainer import TrainConfig, Trainer


class GaussianFitRecipe(DRMMRecipe):
    """The reference initialisation: means drawn from a diagonal Gaussian fit to each layer's input."""

    def initialize(self) -> None:
        residual = self.train_data[torch.randperm(len(self.train_data))[: 8 * self.model.config.components]]
        with torch.no_grad():
            for layer, means in enumerate(self.model.means):
                noise = torch.randn_like(means).clamp(-2, 2)
                means.copy_(residual.mean(0) + residual.std(0) * noise)
                residual = residual - means[torch.cdist(residual, means).argmin(-1)]
                self.model.log_sigma[layer] = 0.5 * residual.pow(2).mean().log()


def run(recipe_class, alpha: float, iterations: int, train: torch.Tensor, val: torch.Tensor, out: Path) -> str:
    torch.manual_seed(0)
    model = DRMM(DRMMConfig(dim=train.shape[1]))
    recipe = recipe_class(model, Curriculum(iterations, alpha), train)
    config = TrainConfig(iterations=iterations, checkpoint_every=iterations, validate_every=iterations, compile=True)
    started = time.perf_counter()
    Trainer(recipe, config, out, Topology(torch.device("cpu"))).run()
    ll = model.log_likelihood(val, passes=8, generator=torch.Generator().manual_seed(0)).mean().item()
    with torch.no_grad():
        used = model._real_term(0, train[:20000]).argmax(-1).unique().numel()
    unused = 1 - used / model.config.components
    return f"val log-likelihood {ll:,.1f} nats, {unused:.0%} of layer-1 components unused ({time.perf_counter() - started:.0f} s)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, type=Path, help="locomotion segments from motion preprocess")
    parser.add_argument("--iterations", type=int, default=3000)
    parser.add_argument("--out", type=Path, default=Path("/tmp/drmm-ablation.pt"), help="scratch checkpoint")
    args = parser.parse_args(argv)
    print(f"machine: {machine()}")
    data = load_dataset(args.data)
    train = torch.from_numpy(data.features[data.split == "train"])
    val = torch.from_numpy(data.features[data.split == "val"][:2048])
    print(f"{args.iterations:,} iterations each, {len(train):,} train vectors:")
    variants = [
        ("picked means, alpha 0.1  ", DRMMRecipe, 0.1),
        ("Gaussian-fit means, 0.1  ", GaussianFitRecipe, 0.1),
        ("picked means, alpha 0.01 ", DRMMRecipe, 0.01),
        ("picked means, alpha 0.001", DRMMRecipe, 0.001),
    ]
    for name, recipe_class, alpha in variants:
        print(f"  {name}: {run(recipe_class, alpha, args.iterations, train, val, args.out)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
