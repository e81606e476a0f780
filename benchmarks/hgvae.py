"""Benchmark the HG-VAE on the shared data: depth study, imputation, out-of-distribution scores, speed.

Windows of all 2,902 Bandai clips (every content; 50 frames at 25 fps), models trained on the
train split, every figure measured on the test split:
- stochastic depth (Table 1): ELBO per window, reconstruction MSE and KL at the test windows
  for models of equal architecture with 1, 2, 4 stochastic levels (`--depths`), trained with
  `motion train hgvae --stochastic-depth D` for `--depth-epochs` each;
- imputation (Fig. 4): `--windows` test windows with random coordinate-frame entries occluded
  at 0.5-75 %, and with whole joints occluded over contiguous spans of 10-40 frames (alone and
  with 2 % of the values scattered on top); MSE (cm^2, over the occluded entries) and MPJPE (mm,
  over the joint-frames with an occluded coordinate) of mean imputation, linear interpolation in
  time, and HG-VAE MAP (10 Adam steps) started from the mean and from the interpolation; a PNG
  plot of MSE against occlusion rate;
- out-of-distribution: AUROC of the ELBO separating clean test windows from windows with 1 %
  and 10 % of their entries occluded and mean-imputed;
- throughput: training windows/s (batch 800) and 10-step imputation of 800 windows.
MAP learning rates are picked on val windows occluded like each figure's test windows, never on test.
Usage: python benchmarks/hgvae.py --model runs/hgvae/depth4.pt [--data WINDOWS] [--report DIR]
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from common import BANDAI_ZIP, ROOT, machine

from evaluation.imputation import (
    depth_study,
    elbo_figures,
    imputation_figures,
    mse_reduction,
    ood_auroc,
    window_labels,
)
from evaluation.plots import imputation_curves
from motion.dataset import load_dataset
from motion.gaps import random_mask
from motion.models.hgvae import HGVAE
from preprocessing import PreprocessConfig, preprocess


def all_windows(work: Path) -> Path:
    out = work / "all"
    if preprocess([BANDAI_ZIP], out, PreprocessConfig(kinds=("windows",))).failures:
        sys.exit("preprocessing failed")
    return out / "windows"


def throughput(
    model: HGVAE, windows: torch.Tensor, labels: torch.Tensor | None, device: torch.device
) -> dict[str, float]:
    """Training windows/s at batch 800 and 10-step imputation windows/s for 800 windows (medians)."""
    model = model.to(device).train()
    batch = windows[:800].to(device)
    labels = None if labels is None else labels[:800].to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    times = []
    for step in range(8):
        started = time.perf_counter()
        terms = model(batch, labels)
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
        model.impute(torch.where(mask, torch.nan, batch), mask, labels, steps=10)
        if device.type == "cuda":
            torch.cuda.synchronize()
        impute_times.append(time.perf_counter() - started)
    return {
        "train_windows_per_s": len(batch) / statistics.median(times),
        "impute_windows_per_s": len(batch) / statistics.median(impute_times),
    }


def speed_figures(path: Path, test: torch.Tensor, labels: torch.Tensor | None, device: torch.device) -> dict[str, dict]:
    """throughput() on the CPU, and on `device` when it is a GPU; printed."""
    figures = {"cpu": throughput(HGVAE.load(path), test, labels, torch.device("cpu"))}
    if device.type == "cuda":
        figures["cuda"] = throughput(HGVAE.load(path), test, labels, device)
    for where, row in figures.items():
        print(
            f"{where}: training {row['train_windows_per_s']:.0f} windows/s, "
            f"10-step imputation {row['impute_windows_per_s']:.0f} windows/s"
        )
    return figures


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
    parser.add_argument(
        "--throughput-only", action="store_true", help="only the speed figures (to hgvae-throughput.json)"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")  # what each training run trains
    print(machine())
    device = torch.device(args.device)

    with tempfile.TemporaryDirectory() as work:
        data_dir = args.data or all_windows(Path(work))
        data = load_dataset(data_dir, kind="windows")
        model = HGVAE.load(args.model)
        shape = model.window_shape
        test_rows = np.flatnonzero(data.split == "test")
        test = torch.from_numpy(data.features[test_rows]).reshape(-1, *shape)
        labels = window_labels(model, data, test_rows)
        if args.throughput_only:
            figures = {"machine": machine(), "model": str(args.model)} | speed_figures(args.model, test, labels, device)
            args.report.mkdir(parents=True, exist_ok=True)
            (args.report / "hgvae-throughput.json").write_text(json.dumps(figures, indent=2) + "\n")
            return
        val_rows = np.flatnonzero(data.split == "val")
        val = torch.from_numpy(data.features[val_rows]).reshape(-1, *shape)
        val_labels = window_labels(model, data, val_rows)
        print(f"{len(test):,} test windows; model {args.model} ({model.parameter_count:,} parameters)")
        report: dict = {"machine": machine(), "model": str(args.model), "test_windows": len(test)}

        depths = [int(d) for d in args.depths.split(",") if d]
        if depths:
            print(f"stochastic depth (F={args.depth_features}, {args.depth_epochs} epochs each):")
            study = depth_study(data_dir, args.runs, test, args.depth_epochs, args.device, depths, args.depth_features)
            report["depth"] = study
            for depth, figures in study.items():
                print(
                    f"  depth {depth}: ELBO {figures['elbo']:.1f}, MSE {figures['mse_cm2']:.2f} cm^2, KL {figures['kl']:.1f}"
                )
        report["model_figures"] = elbo_figures(model, test, labels)
        print("evaluated model: " + ", ".join(f"{k} {v:.2f}" for k, v in report["model_figures"].items()))

        pick = torch.randperm(len(test), generator=torch.Generator().manual_seed(0))[: args.windows]
        val_pick = torch.randperm(len(val), generator=torch.Generator().manual_seed(0))[:200]
        pick_labels = None if val_labels is None else val_labels[val_pick]
        print(f"imputation ({len(pick)} test windows, 10 Adam steps, learning rates picked on {len(val_pick)} val):")
        report["imputation"] = imputation_figures(
            model, test[pick], val[val_pick], None if labels is None else labels[pick], pick_labels
        )
        report["map_from_mean_mse_reduction"] = reduction = mse_reduction(report["imputation"])
        print(f"MAP (from mean) MSE reduction over mean imputation: {reduction['mean']:.1%} ± {reduction['sd']:.1%}")

        report["ood_auroc"] = ood_auroc(model, test, labels)
        print(
            "OoD AUROC (ELBO, clean vs mean-imputed): "
            + ", ".join(f"{k} {v:.3f}" for k, v in report["ood_auroc"].items())
        )

        report["throughput"] = speed_figures(args.model, test, labels, device)

    args.report.mkdir(parents=True, exist_ok=True)
    (args.report / "hgvae.json").write_text(json.dumps(report, indent=2) + "\n")
    imputation_curves(report["imputation"], args.report / "hgvae-imputation.png")
    print(f"wrote {args.report / 'hgvae.json'} and {args.report / 'hgvae-imputation.png'}")


if __name__ == "__main__":
    main()
