"""The report's PNG plots: learning curves, imputation error against occlusion rate, and a top-down
view of a take with its flags. Written with matplotlib's Agg backend (no display needed)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from evaluation.imputation import RATES, rate_name
from motion.atomic import atomic_path

IMPUTATION_METHODS = {
    "mean": "mean imputation",
    "linear": "linear interpolation",
    "map_from_mean": "HG-VAE MAP (from mean)",
    "map_from_linear": "HG-VAE MAP (from linear)",
}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    _pyplot().close(fig)


def read_log(path: Path) -> dict[str, np.ndarray]:
    """A training log (`CKPT.csv`) as columns; empty cells (metrics not logged that row) are NaN."""
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    columns = {}
    for name in rows[0] if rows else []:
        try:
            columns[name] = np.array([float(row[name]) if row[name] else math.nan for row in rows])
        except ValueError:  # a text column such as the stage name
            continue
    return columns


def learning_curves(logs: dict[str, tuple[Path, str, str]], path: Path) -> None:
    """One panel per model: its training objective and validation figure against iterations.

    Args:
        logs: title -> (CSV log, training column, validation column).
    """
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(logs), figsize=(5.2 * len(logs), 3.6), dpi=120, squeeze=False)
    for ax, (title, (log, train_column, val_column)) in zip(axes[0], logs.items()):
        columns = read_log(log)
        iteration = columns["iteration"]
        for column, label in ((train_column, "training batches"), (val_column, "validation")):
            values = columns.get(column, np.full_like(iteration, math.nan))
            kept = np.isfinite(values)
            if not kept.any():  # e.g. a final model trained on the val split too
                continue
            ax.plot(iteration[kept], values[kept], marker="o" if column == val_column else None, ms=3, label=label)
        ax.set_title(title)
        ax.set_xlabel("iteration")
        ax.set_ylabel(f"{train_column} (nats, higher is better)")
        ax.grid(True, alpha=0.3)
        ax.legend()
    _save(fig, path)


def imputation_curves(figures: dict[str, dict], path: Path) -> None:
    """MSE of the occluded entries against the occluded fraction, log-log, one line per method."""
    plt = _pyplot()
    shown = [rate for rate in RATES if rate_name(rate) in figures]
    rows = [figures[rate_name(rate)] for rate in shown]
    percent = [100 * rate for rate in shown]
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=120)
    for key, label in IMPUTATION_METHODS.items():
        ax.plot(percent, [row[key]["mse_cm2"] for row in rows], marker="o", label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("entries occluded (%)")
    ax.set_ylabel("MSE of the occluded entries (cm²)")
    ax.set_title("Imputation of held-out windows")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    _save(fig, path)


def gap_examples(
    examples: dict[str, dict], path: Path, methods: tuple[str, ...] = ("spline", "kinematic", "donor", "hgvae")
) -> None:
    """One filled gap per occlusion pattern (evaluation.gap_filling.example): the truth and each method's
    fill of one lost joint's coordinate relative to the root, the gap shaded."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(examples), figsize=(3.6 * len(examples), 3.2), dpi=120, squeeze=False)
    for ax, (pattern, row) in zip(axes[0], examples.items(), strict=True):
        ax.axvspan(*row["gap"], color="0.9", label="gap")
        ax.plot(row["seconds"], row["truth"], color="black", lw=2, label="truth")
        for method in methods:
            ax.plot(row["seconds"], row[method], lw=1.2, label=method)
        ax.set_title(f"{pattern}: {row['joint']} {row['axis']} - {row['root']} {row['axis']}", fontsize=9)
        ax.set_xlabel("time (s)")
        ax.grid(True, alpha=0.3)
    axes[0, 0].set_ylabel("position relative to the root (m)")
    axes[0, -1].legend(fontsize=8)
    _save(fig, path)


def trajectory(root: np.ndarray, flags: np.ndarray, reached: list[int], fps: float, path: Path) -> None:
    """Top-down view of a take: the root's path (metres), the flags, and where each was reached.

    Args:
        root: (frames, 3) root positions, metres, Z-up.
        flags: (frames, 2) the flag shown at each frame.
        reached: frames at which a flag was reached.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.0, 5.0), dpi=120)
    seconds = np.arange(len(root)) / fps
    line = ax.scatter(root[:, 0], root[:, 1], c=seconds, s=2, cmap="viridis")
    fig.colorbar(line, ax=ax, label="time (s)", shrink=0.8)
    spots = np.unique(flags.round(3), axis=0)
    ax.scatter(spots[:, 0], spots[:, 1], marker="^", s=90, c="tab:red", label="flags", zorder=3)
    if reached:
        ax.scatter(root[reached, 0], root[reached, 1], marker="x", s=50, c="black", label="reached", zorder=4)
    ax.set_aspect("equal")
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    ax.set_title(f"Take of {len(root) / fps:.0f} s, {len(reached)} flags reached")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best")
    _save(fig, path)
