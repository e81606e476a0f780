"""`motion evaluate`: every figure of the trained models against the papers and real held-out data,
as a JSON of figures, a Markdown report and PNG plots.

Parts (`--parts`, all by default):
- drmm: held-out log-likelihood (one pass and S passes) and sample quality: precision, recall
  and F1 of Kynkäänniemi et al. (k = 3) of `--samples` unconditional samples against as many
  held-out segments (DRMM paper, Fig. 7), with held-out val segments against the same test
  segments as the ceiling real data reach;
- depth: the Fig. 7 depth study at a small budget: 1, 2, 4 layers at equal parameter count;
- playback: the scripted course in both modes (facing given, facing unspecified) against the
  real held-out clips (App. C), and a top-down trajectory plot;
- hgvae: ELBO, reconstruction and KL of the model, imputation curves against mean imputation and
  linear interpolation (Fig. 4), out-of-distribution AUROC;
- hgvae-depth: the Table 1 depth study at a small budget (stochastic depth 1, 2, 4);
plus learning curves from the training logs beside the checkpoints (CKPT.csv).

The data are preprocessed from `--data` (the archive the models were trained on) into
OUT/data, once: a rerun reuses them, and trained study models are reused from OUT/work.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from evaluation import plots
from evaluation.report import markdown
from motion.atomic import write_bytes_atomic
from motion.cli import run_guarded
from motion.dataset import Dataset, load_dataset
from motion.errors import InputError
from motion.skeleton import ASSETS_DIR

PARTS = ("drmm", "depth", "playback", "hgvae", "hgvae-depth")
MODELS = ASSETS_DIR / "models"
VAL_WINDOWS = 200  # val windows each MAP learning rate is picked on, per occlusion pattern and start


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="motion evaluate",
        description="Measure trained models against the papers and real held-out data; "
        "write figures.json, report.md and PNG plots.",
    )
    parser.add_argument("--data", required=True, type=Path, help="the mocap archive the models were trained on")
    parser.add_argument("--drmm", type=Path, default=MODELS / "drmm.pt", help="DRMM checkpoint (default: shipped)")
    parser.add_argument("--hgvae", type=Path, default=MODELS / "hgvae.pt", help="HG-VAE checkpoint (default: shipped)")
    parser.add_argument("--out", type=Path, default=Path("out/evaluation"), help="report folder")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, of {', '.join(PARTS)}")
    parser.add_argument("--segments", type=int, default=2000, help="held-out segments of the log-likelihood")
    parser.add_argument("--passes", type=int, default=32, help="S, importance passes of the log-likelihood")
    parser.add_argument("--samples", type=int, default=5000, help="samples (and real segments) of precision/recall")
    parser.add_argument("--depth-iterations", type=int, default=2000, help="training iterations per DRMM depth")
    parser.add_argument(
        "--depth-components", type=int, default=1024, help="K of the 1-layer DRMM that sets the parameter budget"
    )
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each playback take")
    parser.add_argument("--seeds", default="0,1,2", help="seeds of the takes; figures are medians over them")
    parser.add_argument("--windows", type=int, default=400, help="held-out windows occluded for imputation")
    parser.add_argument("--hgvae-depth-epochs", type=int, default=3, help="training epochs per HG-VAE depth")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="torch device")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    return parser


def shown(path: Path) -> str:
    """`path` relative to the working directory when inside it: reports do not name the machine."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def prepared(args: argparse.Namespace, name: str, kind: str, payload: dict) -> Dataset:
    """The held-out data a model is measured on, preprocessed from --data like its training data."""
    from preprocessing.batch import main as preprocess

    recipe = payload.get("recipe", {})
    contents = recipe.get("contents") or []
    out = args.out / "data" / name
    arguments = [str(args.data), "--kind", kind, "--out", str(out)]
    arguments += ["--contents", ",".join(contents)] if contents else []
    if preprocess(arguments) != 0:
        raise InputError(f"{args.data}: preprocessing for the {name} figures failed")
    data = load_dataset(out / kind, kind=kind)
    if data.layout.to_dict() != payload["layout"]:
        raise InputError(f"{args.data}: its {kind} have another layout than the model was trained on")
    return data


def rows(data: Dataset, split: str, count: int, seed: int = 0) -> np.ndarray:
    """Up to `count` random row indices of `split`, sorted."""
    candidates = np.flatnonzero(data.split == split)
    return np.sort(np.random.default_rng(seed).permutation(candidates)[:count])


def evaluate_drmm(args: argparse.Namespace, parts: set[str], report: dict) -> None:
    from evaluation.drmm import depth_study, drmm_figures
    from evaluation.sample_quality import precision_recall
    from motion.models.drmm import DRMM

    model, payload = DRMM.load(args.drmm, args.device)
    data = prepared(args, "drmm", "segments", payload)
    features = lambda indices: torch.from_numpy(data.features[indices])  # noqa: E731
    test = features(rows(data, "test", args.segments))
    reference = features(rows(data, "test", args.samples, seed=1))
    section = report.setdefault("drmm", {"model": shown(args.drmm), "iterations": payload.get("iteration")})
    if "drmm" in parts:
        say(f"DRMM: log-likelihood of {len(test):,} test segments, precision/recall of {args.samples:,} samples")
        section |= {"parameters": model.parameter_count} | drmm_figures(
            model, test, reference, args.passes, args.samples
        )
        val = features(rows(data, "val", args.samples, seed=2))
        section["real_val_vs_test"] = precision_recall(reference[: len(val)], val)
    if "depth" in parts:
        section["depth_study"] = depth_study(
            args.out / "data" / "drmm" / "segments", args.out / "work", [1, 2, 4], args.depth_components,
            args.depth_iterations, test[:1000], reference, 8, args.samples, args.device,
        )  # fmt: skip
        section["depth_study_settings"] = {"iterations": args.depth_iterations, "passes": 8}
    if "playback" in parts:
        evaluate_playback(args, model, payload, report)


def evaluate_playback(args: argparse.Namespace, model, payload: dict, report: dict) -> None:
    from evaluation.takes import median_figures, takes
    from motion.skeleton import Skeleton, preset_roles
    from playback.flags import COURSE, parse_flags
    from playback.loop import PlaybackConfig
    from playback.metrics import held_out_clips, motion_metrics

    skeleton = Skeleton.from_dict(payload["skeleton"])
    contents = tuple(payload.get("recipe", {}).get("contents") or ())
    clips = held_out_clips([str(args.data)], contents, skeleton.name, payload["fps"])
    section = {"seconds": args.seconds, "seeds": args.seeds, "course": COURSE}
    section["real"] = median_figures([motion_metrics(clip, payload["fps"], skeleton) for clip in clips])
    section["real"]["clips"] = len(clips)
    for facing in (True, False):
        say(f"playback: {len(args.seeds)} takes of {args.seconds:g} s, facing {'given' if facing else 'unspecified'}")
        figures, take = takes(model, payload, replace(PlaybackConfig(), facing=facing), args.seeds, args.seconds,
                              parse_flags(COURSE))  # fmt: skip
        section["facing" if facing else "facing unspecified"] = median_figures(figures)
        if facing:
            root = take.positions[:, preset_roles(skeleton.name)["root"]]
            plots.trajectory(root, take.flags, take.reached, take.fps, args.out / "trajectory.png")
    report["playback"] = section


def evaluate_hgvae(args: argparse.Namespace, parts: set[str], report: dict) -> None:
    from evaluation.imputation import (
        RATES,
        depth_study,
        elbo_figures,
        imputation_figures,
        mse_reduction,
        ood_auroc,
        window_labels,
    )
    from motion.models.hgvae import HGVAE

    model, payload = HGVAE.load(args.hgvae, args.device)
    data = prepared(args, "hgvae", "windows", payload)
    shape = model.window_shape

    def windows(indices: np.ndarray) -> tuple[torch.Tensor, torch.Tensor | None]:
        return torch.from_numpy(data.features[indices]).reshape(-1, *shape), window_labels(data, indices, payload)

    test_rows = rows(data, "test", len(data))
    test, test_labels = windows(test_rows)
    section = report.setdefault(
        "hgvae", {"model": shown(args.hgvae), "epochs": payload.get("epochs"), "iterations": payload.get("iteration")}
    )
    if "hgvae" in parts:
        section |= {"parameters": model.parameter_count, "test_windows": len(test), "classes": payload.get("labels")}
        section["test"] = elbo_figures(model, test, test_labels)
        val, val_labels = windows(rows(data, "val", min(VAL_WINDOWS, args.windows)))
        occluded, occluded_labels = windows(rows(data, "test", args.windows, seed=3))
        say(
            f"HG-VAE: imputation of {len(occluded):,} test windows at {len(RATES) + 2} occlusion patterns "
            f"(MAP learning rates picked on {len(val):,} val windows)"
        )
        section["imputation"] = imputation_figures(model, occluded, val, occluded_labels, val_labels)
        section["map_from_mean_mse_reduction"] = mse_reduction(section["imputation"])
        section["ood_auroc"] = ood_auroc(model, test, test_labels)
        plots.imputation_curves(section["imputation"], args.out / "imputation.png")
    if "hgvae-depth" in parts:
        say(f"HG-VAE depth study: stochastic depth 1, 2, 4, {args.hgvae_depth_epochs} epochs each")
        windows_dir = args.out / "data" / "hgvae" / "windows"
        section["depth_study"] = depth_study(windows_dir, args.out / "work", test, args.hgvae_depth_epochs, args.device)


def run(args: argparse.Namespace) -> int:
    parts = {part for part in args.parts.split(",") if part}
    unknown = parts - set(PARTS)
    if unknown or not parts:
        raise InputError(f"--parts: expected some of {', '.join(PARTS)}, got {args.parts!r}")
    if not args.data.exists():
        raise InputError(f"{args.data}: no such file or folder")
    for flag in ("segments", "samples", "passes", "depth_iterations", "windows", "hgvae_depth_epochs"):
        if getattr(args, flag) < 1:
            raise InputError(f"--{flag.replace('_', '-')} must be >= 1")
    if args.seconds <= 0:
        raise InputError("--seconds must be > 0")
    try:
        args.seeds = [int(seed) for seed in args.seeds.split(",")]
    except ValueError:
        raise InputError(f"--seeds {args.seeds!r}: expected comma-separated integers, e.g. 0,1,2") from None
    torch.manual_seed(0)
    started = time.perf_counter()
    report: dict = {"data": str(args.data), "device": args.device}
    if parts & {"drmm", "depth", "playback"}:
        evaluate_drmm(args, parts, report)
    if parts & {"hgvae", "hgvae-depth"}:
        evaluate_hgvae(args, parts, report)
    logs = {
        title: (Path(f"{checkpoint}.csv"), train_column, val_column)
        for title, checkpoint, train_column, val_column in (
            ("DRMM", args.drmm, "ll", "val_ll"),
            ("HG-VAE", args.hgvae, "elbo", "val_elbo"),
        )
        if Path(f"{checkpoint}.csv").exists()
    }
    if logs:
        plots.learning_curves(logs, args.out / "learning-curves.png")
        report["learning_curves"] = {title: shown(path) for title, (path, _, _) in logs.items()}
    report["seconds"] = time.perf_counter() - started

    write_bytes_atomic(args.out / "figures.json", (json.dumps(report, indent=1) + "\n").encode())
    write_bytes_atomic(args.out / "report.md", markdown(report).encode())
    written = sorted(path.name for path in args.out.iterdir() if path.suffix in (".json", ".md", ".png"))
    print(f"wrote {', '.join(written)} to {args.out} in {report['seconds'] / 60:.1f} min")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_guarded(run, build_parser().parse_args(argv), "interrupted")
