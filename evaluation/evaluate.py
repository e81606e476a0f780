"""Every figure of the trained models against the papers and real held-out data: `evaluate()`, written
as a JSON of figures, a Markdown report and PNG plots.

Parts (EvaluationConfig.parts, all by default):
- drmm: held-out log-likelihood (one pass and S passes) and sample quality: precision, recall
  and F1 of Kynkäänniemi et al. (k = 3) of `samples` unconditional samples against as many
  held-out segments (DRMM paper, Fig. 7), with held-out val segments against the same test
  segments as the ceiling real data reach;
- depth: the Fig. 7 depth study at a small budget: 1, 2, 4 layers at equal parameter count;
- playback: the scripted course in both modes (facing given, facing unspecified) against the
  real held-out clips (App. C), and a top-down trajectory plot;
- hgvae: ELBO, reconstruction and KL of the model, imputation curves against mean imputation and
  linear interpolation (Fig. 4), out-of-distribution AUROC;
- hgvae-depth: the Table 1 depth study at a small budget (stochastic depth 1, 2, 4);
- fills: gap filling on whole held-out clips (evaluation.gap_filling): the classical fills against
  the HG-VAE with its fallback rule fitted on val clips, on test clips of the model's contents, and,
  given a model trained without some contents (held_out_hgvae), on clips of those contents;
plus learning curves from the training logs beside the checkpoints (CKPT.csv).

The data are preprocessed from the archive the models were trained on into OUT/data, once: a rerun
reuses them, and trained study models are reused from OUT/work.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from evaluation import plots
from evaluation.report import markdown
from motion.assets import ASSETS, DRMM_MODEL, HGVAE_MODEL
from motion.atomic import write_bytes_atomic
from motion.checkpoint import save_imputation_rule
from motion.dataset import Dataset, load_dataset
from motion.errors import InputError
from motion.models import DRMM, HGVAE, Model
from preprocessing import PreprocessConfig, preprocess

log = logging.getLogger(__name__)

PARTS = ("drmm", "depth", "playback", "hgvae", "hgvae-depth", "fills")
VAL_WINDOWS = 200  # val windows each MAP learning rate is picked on, per occlusion pattern and start


@dataclass(frozen=True)
class EvaluationConfig:
    """What `evaluate` measures, and how much of it.

    Attributes:
        parts: of PARTS.
        segments: held-out segments of the DRMM log-likelihood.
        passes: S, importance passes of the log-likelihood.
        samples: samples (and real segments) of precision and recall.
        depth_iterations: training iterations per DRMM of the depth study.
        depth_components: K of the 1-layer DRMM that sets the depth study's parameter budget.
        seconds: length of each playback take.
        seeds: seeds of the takes; figures are medians over them.
        windows: held-out windows occluded for imputation.
        hgvae_depth_epochs: training epochs per HG-VAE of its depth study.
        fill_clips: clips per set (val, test, unseen contents) of the gap-filling figures.
        held_out_hgvae: an HG-VAE trained on some contents only, for the gap-filling figures on the
            others (clips of every split: the model saw none of them); None: no such figures.
        save_fallback: record each HG-VAE's fitted fallback rule in its checkpoint
            (motion.checkpoint.save_imputation_rule), where `motion impute` reads it.
        device: torch device of the models and the study trainings (default: a GPU when there is one).
    """

    parts: tuple[str, ...] = PARTS
    segments: int = 2000
    passes: int = 32
    samples: int = 5000
    depth_iterations: int = 2000
    depth_components: int = 1024
    seconds: float = 30.0
    seeds: tuple[int, ...] = (0, 1, 2)
    windows: int = 400
    hgvae_depth_epochs: int = 3
    fill_clips: int = 60
    held_out_hgvae: Path | None = None
    save_fallback: bool = False
    device: str = field(default_factory=lambda: "cuda" if torch.cuda.is_available() else "cpu")

    def __post_init__(self) -> None:
        object.__setattr__(self, "parts", tuple(self.parts))
        object.__setattr__(self, "seeds", tuple(self.seeds))
        unknown = set(self.parts) - set(PARTS)
        if unknown or not self.parts:
            raise InputError(f"parts: expected some of {', '.join(PARTS)}, got {','.join(self.parts)!r}")
        for name in (
            "segments",
            "samples",
            "passes",
            "depth_iterations",
            "windows",
            "hgvae_depth_epochs",
            "fill_clips",
        ):
            if getattr(self, name) < 1:
                raise InputError(f"{name}: must be >= 1, got {getattr(self, name)}")
        if self.seconds <= 0:
            raise InputError(f"seconds: must be > 0, got {self.seconds}")
        if not self.seeds:
            raise InputError("seeds: give at least one")


def shown(path: Path) -> str:
    """`path` relative to the working directory, or to the package for a shipped file, when inside
    either: reports do not name the machine."""
    path = path.resolve()
    for base, prefix in ((Path.cwd(), ""), (ASSETS.resolve(), "motion/assets/")):
        if path.is_relative_to(base):
            return prefix + str(path.relative_to(base))
    return str(path)


def prepared(data: Path, out: Path, name: str, kind: str, model: Model) -> Dataset:
    """The held-out data a model is measured on, preprocessed from `data` like its training data."""
    metadata = model.metadata
    folder = out / "data" / name
    summary = preprocess([data], folder, PreprocessConfig(kinds=(kind,), contents=metadata.contents), progress=False)
    if summary.failures:
        raise InputError(f"{data}: preprocessing for the {name} figures failed: {summary.failures[0]}")
    dataset = load_dataset(folder / kind, kind=kind)
    if dataset.layout != metadata.layout:
        raise InputError(f"{data}: its {kind} have another layout than the model was trained on")
    return dataset


def rows(data: Dataset, split: str, count: int, seed: int = 0) -> np.ndarray:
    """Up to `count` random row indices of `split`, sorted."""
    candidates = np.flatnonzero(data.split == split)
    return np.sort(np.random.default_rng(seed).permutation(candidates)[:count])


def evaluate_drmm(data: Path, out: Path, drmm: Path, config: EvaluationConfig, report: dict) -> None:
    from evaluation.drmm import depth_study, drmm_figures
    from evaluation.sample_quality import precision_recall

    model = DRMM.load(drmm, config.device)
    segments = prepared(data, out, "drmm", "segments", model)
    features = lambda indices: torch.from_numpy(segments.features[indices])  # noqa: E731
    test = features(rows(segments, "test", config.segments))
    reference = features(rows(segments, "test", config.samples, seed=1))
    section = report.setdefault("drmm", {"model": shown(drmm), "iterations": model.metadata.iteration})
    if "drmm" in config.parts:
        log.info("DRMM: log-likelihood of %s test segments, precision/recall of %s samples", f"{len(test):,}",
                 f"{config.samples:,}")  # fmt: skip
        section |= {"parameters": model.parameter_count} | drmm_figures(
            model, test, reference, config.passes, config.samples
        )
        val = features(rows(segments, "val", config.samples, seed=2))
        section["real_val_vs_test"] = precision_recall(reference[: len(val)], val)
    if "depth" in config.parts:
        depth_test = features(rows(segments, "test", 1000, seed=3))  # a random 1,000: rows come in clip order
        section["depth_study"] = depth_study(
            out / "data" / "drmm" / "segments", out / "work", [1, 2, 4], config.depth_components,
            config.depth_iterations, depth_test, reference, 8, config.samples, config.device,
        )  # fmt: skip
        section["depth_study_settings"] = {"iterations": config.depth_iterations, "passes": 8}
    if "playback" in config.parts:
        evaluate_playback(data, out, model, config, report)


def evaluate_playback(data: Path, out: Path, model: DRMM, config: EvaluationConfig, report: dict) -> None:
    from evaluation.takes import held_out_clips, median_figures, takes
    from motion.skeleton import preset_roles
    from playback.flags import COURSE, parse_flags
    from playback.loop import PlaybackConfig
    from playback.metrics import motion_metrics

    metadata = model.metadata
    clips = held_out_clips([data], metadata.contents, metadata.skeleton.name, metadata.fps)
    section = {"seconds": config.seconds, "seeds": list(config.seeds), "course": COURSE}
    section["real"] = median_figures([motion_metrics(clip, metadata.fps, metadata.skeleton) for clip in clips])
    section["real"]["clips"] = len(clips)
    for facing in (True, False):
        log.info("playback: %d takes of %g s, facing %s", len(config.seeds), config.seconds,
                 "given" if facing else "unspecified")  # fmt: skip
        figures, take = takes(model, replace(PlaybackConfig(), facing=facing), list(config.seeds), config.seconds,
                              parse_flags(COURSE))  # fmt: skip
        section["facing" if facing else "facing unspecified"] = median_figures(figures)
        if facing:
            root = take.positions[:, preset_roles(metadata.skeleton.name)["root"]]
            plots.trajectory(root, take.flags, take.reached, take.fps, out / "trajectory.png")
    report["playback"] = section


def evaluate_hgvae(data: Path, out: Path, hgvae: Path, config: EvaluationConfig, report: dict) -> None:
    from evaluation.imputation import (
        RATES,
        depth_study,
        elbo_figures,
        imputation_figures,
        mse_reduction,
        ood_auroc,
        window_labels,
    )

    model = HGVAE.load(hgvae, config.device)
    dataset = prepared(data, out, "hgvae", "windows", model)
    shape = model.window_shape

    def windows(indices: np.ndarray) -> tuple[torch.Tensor, torch.Tensor | None]:
        return torch.from_numpy(dataset.features[indices]).reshape(-1, *shape), window_labels(model, dataset, indices)

    test, test_labels = windows(rows(dataset, "test", len(dataset)))
    metadata = model.metadata
    section = report.setdefault(
        "hgvae", {"model": shown(hgvae), "epochs": metadata.epochs, "iterations": metadata.iteration}
    )
    if "hgvae" in config.parts:
        section |= {"parameters": model.parameter_count, "test_windows": len(test), "classes": list(metadata.labels)}
        section["test"] = elbo_figures(model, test, test_labels)
        val, val_labels = windows(rows(dataset, "val", min(VAL_WINDOWS, config.windows)))
        occluded, occluded_labels = windows(rows(dataset, "test", config.windows, seed=3))
        log.info(
            "HG-VAE: imputation of %s test windows at %d occlusion patterns (MAP learning rates picked on %s val windows)",
            f"{len(occluded):,}", len(RATES) + 2, f"{len(val):,}",
        )  # fmt: skip
        section["imputation"] = imputation_figures(model, occluded, val, occluded_labels, val_labels)
        section["map_from_mean_mse_reduction"] = mse_reduction(section["imputation"])
        section["ood_auroc"] = ood_auroc(model, test, test_labels)
        plots.imputation_curves(section["imputation"], out / "imputation.png")
    if "hgvae-depth" in config.parts:
        log.info("HG-VAE depth study: stochastic depth 1, 2, 4, %d epochs each", config.hgvae_depth_epochs)
        windows_dir = out / "data" / "hgvae" / "windows"
        section["depth_study"] = depth_study(windows_dir, out / "work", test, config.hgvae_depth_epochs, config.device)


def evaluate_fills(data: Path, out: Path, hgvae: Path, config: EvaluationConfig, report: dict) -> None:
    from evaluation.gap_filling import (
        RULE,
        classical_methods,
        fit_fallback,
        gap_filling_figures,
        model_method,
        split_clips,
    )

    def sample(clips: list, seed: int) -> list:
        pick = np.random.default_rng(seed).permutation(len(clips))[: config.fill_clips]
        return [clips[i] for i in np.sort(pick)]

    def figures(model: HGVAE, path: Path, val: list, test: list, plot: Path) -> dict:
        fallback = fit_fallback(model, val)
        if config.save_fallback:
            rule = {name: fallback[key] for name, key in RULE.items()}
            save_imputation_rule(path, rule)
            log.info("gap filling: the fitted fallback rule is recorded in %s", shown(path))
        methods = classical_methods() | {
            "hgvae": model_method(model, fallback["seconds"], fallback["elbo_floor"], fallback["smooth_seconds"])
        }
        examples: dict = {}
        rows = gap_filling_figures(test, methods, examples=examples)
        plots.gap_examples(examples, plot)
        return {"fallback": fallback, "val_clips": len(val)} | rows

    model = HGVAE.load(hgvae, config.device)
    skeleton, contents = model.metadata.skeleton.name, model.metadata.contents
    val, test = (
        sample(split_clips([data], [split], skeleton, contents), seed) for split, seed in (("val", 0), ("test", 1))
    )
    log.info(
        "gap filling: %d test clips of the model's contents (fallback fitted on %d val clips)", len(test), len(val)
    )
    section = {"test": {"model": shown(hgvae)} | figures(model, hgvae, val, test, out / "fills.png")}
    if config.held_out_hgvae is not None:
        held = HGVAE.load(config.held_out_hgvae, config.device)
        seen = held.metadata.contents
        if not seen:
            raise InputError(f"{config.held_out_hgvae}: trained on every content; nothing is held out")
        unseen = sample(split_clips([data], ("train", "val", "test"), skeleton, exclude=seen), 2)
        val = sample(split_clips([data], ["val"], skeleton, seen), 0)
        never = sorted({clip.labels.get("content") for clip in unseen})
        log.info("gap filling: %d clips of contents %s never trained on", len(unseen), ", ".join(never))
        section["unseen contents"] = {
            "model": shown(config.held_out_hgvae),
            "contents": never,
        } | figures(held, config.held_out_hgvae, val, unseen, out / "fills-unseen.png")
    report["fills"] = section


def evaluate(
    data: str | Path,
    out: str | Path,
    drmm: str | Path = DRMM_MODEL,
    hgvae: str | Path = HGVAE_MODEL,
    config: EvaluationConfig | None = None,
) -> dict:
    """Measure trained models on the held-out data of the archive they were trained on.

    Writes OUT/figures.json, OUT/report.md (each figure beside the paper's) and PNG plots
    (learning-curves.png from the logs beside the checkpoints, imputation.png, trajectory.png).

    Args:
        data: the mocap archive (or folder) the models were trained on.
        out: the report folder; OUT/data and OUT/work keep the preprocessed data and study models.
        drmm, hgvae: the checkpoints (default: the shipped models).
        config: what to measure (default: EvaluationConfig()).
    Returns:
        the figures, as written to figures.json.
    """
    data, out, drmm, hgvae = Path(data), Path(out), Path(drmm), Path(hgvae)
    config = config or EvaluationConfig()
    if not data.exists():
        raise InputError(f"{data}: no such file or folder")
    torch.manual_seed(0)
    started = time.perf_counter()
    report: dict = {"data": str(data), "device": config.device}
    parts = set(config.parts)
    if parts & {"drmm", "depth", "playback"}:
        evaluate_drmm(data, out, drmm, config, report)
    if parts & {"hgvae", "hgvae-depth"}:
        evaluate_hgvae(data, out, hgvae, config, report)
    if "fills" in parts:
        evaluate_fills(data, out, hgvae, config, report)
    logs = {
        title: (Path(f"{checkpoint}.csv"), train_column, val_column)
        for title, checkpoint, train_column, val_column in (
            ("DRMM", drmm, "ll", "val_ll"),
            ("HG-VAE", hgvae, "elbo", "val_elbo"),
        )
        if Path(f"{checkpoint}.csv").exists()
    }
    if logs:
        plots.learning_curves(logs, out / "learning-curves.png")
        report["learning_curves"] = {title: shown(path) for title, (path, _, _) in logs.items()}
    report["seconds"] = time.perf_counter() - started

    write_bytes_atomic(out / "figures.json", (json.dumps(report, indent=1) + "\n").encode())
    write_bytes_atomic(out / "report.md", markdown(report).encode())
    return report
