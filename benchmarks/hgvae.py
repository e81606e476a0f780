"""Benchmark the HG-VAE on the shared data: depth study, imputation, out-of-distribution scores, speed.

Windows of all 2,902 Bandai clips (every content; 50 frames at 25 fps), models trained on the
train split, every figure measured on the test split:
- stochastic depth (Table 1): ELBO per window, reconstruction MSE and KL at the test windows
  for models of equal architecture with 1, 2, 4 stochastic levels (`--depths`), trained with
  `motion train hgvae --stochastic-depth D` for `--depth-epochs` each;
- imputation (Fig. 4): `--windows` test windows with random coordinate-frame entries occluded
  at 0.5-75 %, and with whole joints occluded over contiguous spans of 10-40 frames; MSE
  (cm^2, over the occluded entries) and MPJPE (mm, over the joint-frames with an occluded
  coordinate) of mean imputation, linear interpolation in time, and HG-VAE MAP (10 Adam steps)
  started from the mean and from the interpolation; a PNG plot of MSE against occlusion rate;
- out-of-distribution: AUROC of the ELBO separating clean test windows from windows with 1 %
  and 10 % of their entries occluded and mean-imputed;
- throughput: training windows/s (batch 800) and 10-step imputation of 800 windows.
MAP learning rates are picked on val windows (10 % occlusion), never on test.
Usage: python benchmarks/hgvae.py --model runs/hgvae/depth4.pt [--data WINDOWS] [--report DIR]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from common import BANDAI_ZIP, ROOT, machine

from motion.dataset import load_dataset
from motion.gaps import interpolate_gaps
from motion.models.hgvae import HGVAE
from preprocessing.batch import main as preprocess
from training.hgvae import main as train

RATES = (0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75)
SPANS = (10, 40)  # frames a joint stays occluded
LEARNING_RATES = (0.001, 0.003, 0.01, 0.03, 0.1)


def all_windows(work: Path) -> Path:
    out = work / "all"
    if preprocess([str(BANDAI_ZIP), "--kind", "windows", "--out", str(out)]) != 0:
        sys.exit("preprocessing failed")
    return out / "windows"


def random_mask(shape: tuple[int, ...], rate: float, generator: torch.Generator) -> torch.Tensor:
    """Each coordinate-frame entry occluded with probability `rate`."""
    return torch.rand(shape, generator=generator) < rate


def span_mask(shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    """One to three random joints per window, each occluded (all 3 coordinates) over 10-40 frames."""
    windows, frames, joints, _ = shape
    mask = torch.zeros(shape, dtype=torch.bool)
    for window in range(windows):
        count = int(torch.randint(1, 4, (1,), generator=generator))
        for joint in torch.randperm(joints, generator=generator)[:count].tolist():
            length = int(torch.randint(SPANS[0], SPANS[1] + 1, (1,), generator=generator))
            first = int(torch.randint(0, frames - length + 1, (1,), generator=generator))
            mask[window, first : first + length, joint] = True
    return mask


def errors(estimate: torch.Tensor, truth: torch.Tensor, mask: torch.Tensor) -> dict[str, float]:
    """MSE over occluded entries (cm^2) and MPJPE over joint-frames with an occluded coordinate (mm)."""
    squared = (estimate - truth).square()
    points = mask.any(-1)
    return {
        "mse_cm2": 1e4 * squared[mask].mean().item(),
        "mpjpe_mm": 1e3 * squared.sum(-1).sqrt()[points].mean().item(),
    }


def interpolated(model: HGVAE, occluded: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    flat = occluded.reshape(len(occluded), model.config.frames, -1)
    hole = mask.reshape(flat.shape)
    return interpolate_gaps(flat, hole, fallback=model.data_mean).reshape(occluded.shape)


def mean_filled(model: HGVAE, occluded: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return torch.where(mask, model.data_mean.reshape(model.window_shape), occluded)


def auroc(clean: torch.Tensor, degraded: torch.Tensor) -> float:
    """P(score of a clean window > score of a degraded one), ties counting half (Mann-Whitney)."""
    scores = torch.cat([clean, degraded]).double()
    ranks = torch.empty_like(scores)
    order = scores.argsort()
    ranks[order] = torch.arange(1, len(scores) + 1, dtype=torch.double)
    for value in scores.unique():  # average ranks of ties
        tied = scores == value
        ranks[tied] = ranks[tied].mean()
    clean_ranks = ranks[: len(clean)].sum() - len(clean) * (len(clean) + 1) / 2
    return (clean_ranks / (len(clean) * len(degraded))).item()


def depth_figures(model: HGVAE, windows: torch.Tensor) -> dict[str, float]:
    """Mean test ELBO (posterior means), reconstruction MSE (cm^2) and KL per window."""
    elbo, mse, kl = [], [], []
    with torch.no_grad():
        for first in range(0, len(windows), 800):
            part = windows[first : first + 800]
            terms = model(part, sample=False)
            elbo.append(terms.elbo)
            kl.append(terms.kl.sum(-1))
            mse.append((terms.mean - part).square().flatten(1).mean(1))
    return {
        "elbo": torch.cat(elbo).mean().item(),
        "mse_cm2": 1e4 * torch.cat(mse).mean().item(),
        "kl": torch.cat(kl).mean().item(),
    }


def pick_learning_rate(model: HGVAE, windows: torch.Tensor, start: str) -> float:
    """The MAP learning rate with the lowest MSE on val windows at 10 % occlusion."""
    mask = random_mask(windows.shape, 0.1, torch.Generator().manual_seed(1))
    occluded = torch.where(mask, torch.nan, windows)
    scores = {}
    for lr in LEARNING_RATES:
        result = model.impute(occluded, mask, steps=10, lr=lr, start=start)
        scores[lr] = errors(result.windows, windows, mask)["mse_cm2"]
    return min(scores, key=scores.get)


def imputation_figures(model: HGVAE, windows: torch.Tensor, rates: dict[str, float]) -> dict[str, dict]:
    generator = torch.Generator().manual_seed(0)
    masks = {f"{100 * rate:g}%": random_mask(windows.shape, rate, generator) for rate in RATES}
    masks["joint spans"] = span_mask(windows.shape, generator)
    figures = {}
    for name, mask in masks.items():
        occluded = torch.where(mask, torch.nan, windows)
        row = {
            "occluded_fraction": mask.float().mean().item(),
            "mean": errors(mean_filled(model, occluded, mask), windows, mask),
            "linear": errors(interpolated(model, occluded, mask), windows, mask),
        }
        for start, key in (("mean", "map_from_mean"), ("interpolate", "map_from_linear")):
            result = model.impute(occluded, mask, steps=10, lr=rates[start], start=start)
            row[key] = errors(result.windows, windows, mask) | {
                "elbo_before": result.elbo_before.mean().item(),
                "elbo_after": result.elbo_after.mean().item(),
            }
        figures[name] = row
        print(
            f"  {name:>11}: MSE cm^2 mean {row['mean']['mse_cm2']:.2f}, linear {row['linear']['mse_cm2']:.2f}, "
            f"MAP from mean {row['map_from_mean']['mse_cm2']:.2f}, from linear {row['map_from_linear']['mse_cm2']:.2f}",
            flush=True,
        )
    return figures


def plot(figures: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rates = [100 * r for r in RATES]
    rows = [figures[f"{r:g}%"] for r in rates]
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=120)
    for key, label in (
        ("mean", "mean imputation"),
        ("linear", "linear interpolation"),
        ("map_from_mean", "HG-VAE MAP (from mean)"),
        ("map_from_linear", "HG-VAE MAP (from linear)"),
    ):
        ax.plot(rates, [row[key]["mse_cm2"] for row in rows], marker="o", label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("entries occluded (%)")
    ax.set_ylabel("MSE of the occluded entries (cm²)")
    ax.set_title("Imputation on Bandai test windows")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)


def throughput(model: HGVAE, windows: torch.Tensor, device: torch.device) -> dict[str, float]:
    """Training windows/s at batch 800 and 10-step imputation windows/s for 800 windows (medians)."""
    model = model.to(device).train()
    batch = windows[:800].to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    times = []
    for step in range(8):
        started = time.perf_counter()
        terms = model(batch)
        loss = -terms.elbo.mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if step >= 2:
            times.append(time.perf_counter() - started)
    model.eval()
    mask = random_mask(batch.shape, 0.1, torch.Generator().manual_seed(0)).to(device)
    impute_times = []
    for _ in range(3):
        started = time.perf_counter()
        model.impute(torch.where(mask, torch.nan, batch), mask, steps=10)
        if device.type == "cuda":
            torch.cuda.synchronize()
        impute_times.append(time.perf_counter() - started)
    return {
        "train_windows_per_s": len(batch) / statistics.median(times),
        "impute_windows_per_s": len(batch) / statistics.median(impute_times),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="the HG-VAE to evaluate (motion train hgvae)")
    parser.add_argument("--data", type=Path, help="windows folder (default: preprocess the shared archive)")
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "hgvae", help="where depth-study models go")
    parser.add_argument("--depths", default="1,2,4", help="stochastic depths of the study ('' to skip)")
    parser.add_argument("--depth-epochs", type=int, default=3, help="training epochs of each depth-study model")
    parser.add_argument("--depth-features", type=int, default=64, help="F of the depth-study models")
    parser.add_argument("--windows", type=int, default=800, help="test windows occluded for imputation")
    parser.add_argument("--report", type=Path, default=ROOT / "benchmarks" / "results", help="JSON and PNG go here")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    print(machine())
    device = torch.device(args.device)

    with tempfile.TemporaryDirectory() as work:
        data_dir = args.data or all_windows(Path(work))
        data = load_dataset(data_dir, kind="windows")
        model, payload = HGVAE.load(args.model)
        shape = model.window_shape
        test = torch.from_numpy(data.features[data.split == "test"]).reshape(-1, *shape)
        val = torch.from_numpy(data.features[data.split == "val"]).reshape(-1, *shape)
        print(f"{len(test):,} test windows; model {args.model} ({model.parameter_count:,} parameters)")
        report: dict = {"machine": machine(), "model": str(args.model), "test_windows": len(test)}

        depths = [int(d) for d in args.depths.split(",") if d]
        if depths:
            print(f"stochastic depth (F={args.depth_features}, {args.depth_epochs} epochs each):")
            report["depth"] = {}
            for depth in depths:
                checkpoint = args.runs / f"study-depth{depth}.pt"
                if not checkpoint.exists():
                    flags = ["--data", str(data_dir), "--out", str(checkpoint), "--stochastic-depth", str(depth)]
                    flags += ["--features", str(args.depth_features), "--batch", "256"]
                    flags += ["--epochs", str(args.depth_epochs), "--kl-warmup-epochs", str(args.depth_epochs / 5)]
                    if train([*flags, "--validate-every", str(args.depth_epochs), "--device", args.device]) != 0:
                        sys.exit("training failed")
                study, _ = HGVAE.load(checkpoint)
                figures = depth_figures(study, test)
                report["depth"][depth] = figures
                print(
                    f"  depth {depth}: ELBO {figures['elbo']:.1f}, MSE {figures['mse_cm2']:.2f} cm^2, KL {figures['kl']:.1f}"
                )
        report["model_figures"] = depth_figures(model, test)
        print("evaluated model: " + ", ".join(f"{k} {v:.2f}" for k, v in report["model_figures"].items()))

        pick = torch.randperm(len(test), generator=torch.Generator().manual_seed(0))[: args.windows]
        val_pick = torch.randperm(len(val), generator=torch.Generator().manual_seed(0))[:400]
        rates = {start: pick_learning_rate(model, val[val_pick], start) for start in ("mean", "interpolate")}
        print(f"MAP learning rates picked on val: from mean {rates['mean']}, from linear {rates['interpolate']}")
        print(f"imputation ({len(pick)} test windows, 10 Adam steps):")
        report["map_learning_rates"] = rates
        report["imputation"] = imputation_figures(model, test[pick], rates)
        reductions = [
            1 - row["map_from_mean"]["mse_cm2"] / row["mean"]["mse_cm2"]
            for name, row in report["imputation"].items()
            if name.endswith("%")
        ]
        report["map_from_mean_mse_reduction"] = {"mean": float(np.mean(reductions)), "sd": float(np.std(reductions))}
        print(
            f"MAP (from mean) MSE reduction over mean imputation: {np.mean(reductions):.1%} ± {np.std(reductions):.1%}"
        )

        clean = model.elbo(test)
        report["ood_auroc"] = {}
        for rate in (0.01, 0.1):
            mask = random_mask(test.shape, rate, torch.Generator().manual_seed(2))
            degraded = model.elbo(mean_filled(model, test, mask))
            report["ood_auroc"][f"{100 * rate:g}%"] = auroc(clean, degraded)
        print(
            "OoD AUROC (ELBO, clean vs mean-imputed): "
            + ", ".join(f"{k} {v:.3f}" for k, v in report["ood_auroc"].items())
        )

        report["throughput"] = {"cpu": throughput(HGVAE.load(args.model)[0], test, torch.device("cpu"))}
        if device.type == "cuda":
            report["throughput"]["cuda"] = throughput(HGVAE.load(args.model)[0], test, device)
        for where, figures in report["throughput"].items():
            print(
                f"{where}: training {figures['train_windows_per_s']:.0f} windows/s, "
                f"10-step imputation {figures['impute_windows_per_s']:.0f} windows/s"
            )

    args.report.mkdir(parents=True, exist_ok=True)
    (args.report / "hgvae.json").write_text(json.dumps(report, indent=2) + "\n")
    plot(report["imputation"], args.report / "hgvae-imputation.png")
    print(f"wrote {args.report / 'hgvae.json'} and {args.report / 'hgvae-imputation.png'}")


if __name__ == "__main__":
    main()
