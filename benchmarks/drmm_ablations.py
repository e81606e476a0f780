"""Short-run ablations behind two DRMM defaults: how the means are initialised, and alpha.

Trains L=4, K=512 DRMMs for --iterations on the train split of the locomotion segments, then
prints each one's validation log-likelihood (every val vector, S = 8) and the share of
first-layer components that none of 20,000 random training vectors picks. Variants: initial
means picked from training vectors (ours) or drawn from a Gaussian fit (the reference code), and
the orphan weight alpha at 0.001 (the paper's text), 0.01 (reference code) and 0.1 (Table 1).
Every variant trains once per --seeds seed; with several seeds, a last line gives their mean.
Usage: python benchmarks/drmm_ablations.py --data DIR [--iterations 3000] [--seeds 0 1 2] [--variants ...]
"""

from __future__ import annotations

import argparse
import statistics
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

UNUSED_SAMPLE = 20000  # random training vectors of the unused share (of all 89k, some vector picks every component)


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


def run(
    recipe_class, alpha: float, iterations: int, train: torch.Tensor, val: torch.Tensor, out: Path, seed: int
) -> tuple[float, float]:
    """Train one variant; return its validation log-likelihood (nats per vector) and unused share."""
    torch.manual_seed(seed)
    model = DRMM(DRMMConfig(dim=train.shape[1]))
    recipe = recipe_class(model, Curriculum(iterations, alpha), train)
    config = TrainConfig(
        iterations=iterations, checkpoint_every=iterations, validate_every=iterations, compile=True, seed=seed
    )
    Trainer(recipe, config, out, Topology(torch.device("cpu"))).run()
    ll = model.log_likelihood(val, passes=8, generator=torch.Generator().manual_seed(0)).mean().item()
    sample = train[torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[:UNUSED_SAMPLE]]
    with torch.no_grad():
        picked = model._real_term(0, sample).argmax(-1)
    return ll, 1 - picked.unique().numel() / model.config.components


VARIANTS = {
    "picked-0.1": ("picked means, alpha 0.1", DRMMRecipe, 0.1),
    "gaussian-0.1": ("Gaussian-fit means, 0.1", GaussianFitRecipe, 0.1),
    "picked-0.01": ("picked means, alpha 0.01", DRMMRecipe, 0.01),
    "picked-0.001": ("picked means, alpha 0.001", DRMMRecipe, 0.001),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--data", required=True, type=Path, help="locomotion segments from motion preprocess")
    parser.add_argument("--iterations", type=int, default=3000, help="training iterations per run")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="training seeds of every variant")
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS), help="variants run")
    parser.add_argument("--out", type=Path, default=Path("/tmp/drmm-ablation.pt"), help="scratch checkpoint")
    args = parser.parse_args(argv)
    print(f"machine: {machine()}")
    data = load_dataset(args.data)
    train = torch.from_numpy(data.features[data.split == "train"])
    val = torch.from_numpy(data.features[data.split == "val"])
    print(
        f"{args.iterations:,} iterations each, {len(train):,} train and {len(val):,} val vectors, seeds {args.seeds}:"
    )
    for key in args.variants:
        name, recipe_class, alpha = VARIANTS[key]
        log_likelihoods = []
        for seed in args.seeds:
            started = time.perf_counter()
            ll, unused = run(recipe_class, alpha, args.iterations, train, val, args.out, seed)
            log_likelihoods.append(ll)
            print(
                f"  {name:<25}, seed {seed}: val log-likelihood {ll:,.1f} nats, "
                f"{unused:.0%} of layer-1 components unused ({time.perf_counter() - started:.0f} s)",
                flush=True,
            )
        if len(log_likelihoods) > 1:
            mean = statistics.mean(log_likelihoods)
            print(f"  {name:<25}: mean {mean:,.1f} nats over {len(log_likelihoods)} seeds", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
