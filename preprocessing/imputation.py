"""The batch job that fills the gaps of a whole mocap library: `impute_files()`.

Every motion file in the inputs (files, folders searched recursively, zip archives) is filled by
motion.impute.impute_source and written under OUT at its path relative to its input (a zip's members
under a folder named after the archive), in its own format with every observed cell's text kept; a
BVH stays BVH, re-solved in the frames with gaps. Files are filled in worker processes, each file written under a
temporary name and renamed; OUT/manifest.json records each finished file (keyed by its size and
modification time) and is rewritten after each, so a rerun with the same settings resumes and an
interrupted one loses only the files in flight. A bad file costs one line in the summary. Each clip
gets an out-of-distribution score, the ELBO per window of its filled motion under the HG-VAE
(motion.impute.clip_elbo): low scores mark the clips a model knows least, where a learned fill is
least to be trusted. OUT/summary.csv lists every file with its figures.
"""

from __future__ import annotations

import csv
import io
import math
import multiprocessing
import sys
import traceback
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from functools import lru_cache, partial
from pathlib import Path

import numpy as np
from tqdm import tqdm

from motion.assets import HGVAE_MODEL
from motion.atomic import write_bytes_atomic
from motion.errors import InputError
from motion.formats import ReadOptions, Source, list_sources
from motion.impute import BASE_FILL, METHODS, STARTS, impute_source
from motion.models import HGVAE
from motion.models.hgvae import MAP_LR
from preprocessing.manifest import Manifest, source_key
from preprocessing.pool import run_pool

SUMMARY = "summary.csv"
LOWEST_SHOWN = 5  # clips of lowest score the report names


@dataclass(frozen=True)
class ImputeConfig:
    """How the files are filled (all of it is saved in the manifest, so a rerun must match).

    Attributes:
        method: motion.impute.METHODS: a classical fill, or "hgvae".
        model: the HG-VAE checkpoint, for method "hgvae" and for the scores.
        score: give each clip its out-of-distribution score under `model`.
        label, steps, lr, start, keep_bones, fallback_seconds, elbo_floor, smooth_seconds, probe: as
            motion.impute.impute_clip takes them (a None: the model's fitted rule).
        joint_map: JSON joint map for skeletons that are no preset.
        read: how to read the files (format, fps, up axis, units).
    """

    method: str = "donor"
    model: str = str(HGVAE_MODEL)
    score: bool = True
    label: str | None = None
    steps: int = 10
    lr: float = MAP_LR
    start: str = BASE_FILL
    keep_bones: bool = True
    fallback_seconds: float | None = None
    elbo_floor: float | None = None
    smooth_seconds: float | None = None
    probe: bool = True
    joint_map: str | None = None
    read: ReadOptions = field(default_factory=ReadOptions)

    def __post_init__(self) -> None:
        object.__setattr__(self, "model", str(self.model))
        if self.method not in METHODS:
            raise InputError(f"method {self.method!r}: expected one of {', '.join(METHODS)}")
        if self.start not in STARTS:
            raise InputError(f"start {self.start!r}: expected one of {', '.join(STARTS)}")
        if self.steps < 0:
            raise InputError(f"steps: must be at least 0, got {self.steps}")
        if self.lr <= 0:
            raise InputError(f"lr: must be positive, got {self.lr}")

    @property
    def uses_model(self) -> bool:
        return self.method == "hgvae" or self.score

    def clip_settings(self) -> dict:
        """impute_clip's keyword arguments (method "hgvae")."""
        if self.method != "hgvae":
            return {}
        names = (
            "label", "steps", "lr", "start", "keep_bones", "fallback_seconds", "elbo_floor", "smooth_seconds", "probe"
        )  # fmt: skip
        return {name: getattr(self, name) for name in names}

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class FileResult:
    """One file's outcome: its output, what it held and how much was filled, or its one-line error.

    Attributes:
        output: the output's path relative to OUT.
        scores: each clip's out-of-distribution score (NaN: none, e.g. a skeleton the model cannot read).
    """

    source: str
    output: str = ""
    clips: int = 0
    frames: int = 0
    filled: int = 0
    scores: tuple[float, ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class ImputeSummary:
    """What an imputation run did and what OUT now holds.

    Attributes:
        out: the output folder.
        processed, skipped: files filled by this run, and files an earlier run had filled (unchanged).
        failures: one line per file that failed ("file: what is wrong").
        files: every file OUT holds, this run's and earlier ones', in input order.
    """

    out: Path
    processed: int
    skipped: int
    failures: tuple[str, ...]
    files: tuple[FileResult, ...]

    @property
    def filled(self) -> int:
        return sum(result.filled for result in self.files)

    def report(self) -> str:
        """The summary as `motion impute` prints it."""
        clips = sum(result.clips for result in self.files)
        lines = [
            f"inputs: {self.processed} filled, {self.skipped} already done (skipped), {len(self.failures)} failed",
            f"clips: {clips:,}  frames: {sum(r.frames for r in self.files):,}  values filled: {self.filled:,}",
        ]
        scored = [(score, result.output) for result in self.files for score in result.scores if math.isfinite(score)]
        if scored:
            values = np.array([score for score, _ in scored])
            lines.append(
                f"out-of-distribution score (ELBO per window, nats; lower: less like the model's training data): "
                f"median {np.median(values):,.0f}, lowest {values.min():,.0f}"
            )
            lines.append("lowest:")
            for score, name in sorted(scored)[:LOWEST_SHOWN]:
                lines.append(f"  {score:8,.0f}  {name}")
        lines.append(f"per file: {self.out / SUMMARY}")
        return "\n".join(lines)


def output_names(inputs: Iterable[str | Path], out: Path) -> list[tuple[Source, Path]]:
    """Every motion source in the inputs, except what lies in `out` (an earlier run's outputs), with its
    output path relative to `out`: its path under its input folder, a zip member under a folder named
    after the archive; each keeps its format (a BVH re-solved only in the frames with gaps).

    Raises:
        InputError: two sources would be written to the same path, or one onto itself.
    """
    out = out.resolve()
    named: list[tuple[Source, Path]] = []
    for given in map(Path, inputs):
        for source in list_sources([given]):
            if source.path.resolve().is_relative_to(out):
                continue
            if source.member is not None:
                archive = source.path.relative_to(given) if given.is_dir() else Path(source.path.name)
                relative = archive.with_suffix("") / source.member
            else:
                relative = source.path.relative_to(given) if given.is_dir() else Path(source.path.name)
            named.append((source, relative))
    seen: dict[Path, str] = {}
    for source, relative in named:
        if relative in seen:
            raise InputError(f"{source.name} and {seen[relative]} would both be written to {relative}")
        seen[relative] = source.name
    return named


@lru_cache(maxsize=1)
def _model(path: str, device: str) -> HGVAE:
    """The HG-VAE, loaded once per process."""
    return HGVAE.load(path, device)


def impute_one(task: tuple[Source, Path], out: Path, config: ImputeConfig, device: str, debug: bool) -> FileResult:
    """Fill one source and write it to its output path under `out`; errors are caught and reported in the result."""
    source, relative = task
    output = out / relative
    try:
        model = _model(config.model, device) if config.uses_model else None
        output.parent.mkdir(parents=True, exist_ok=True)
        results = impute_source(
            source, output, config.method, model if config.method == "hgvae" else None, None, config.read,
            config.joint_map, scorer=model if config.score else None, **config.clip_settings(),
        )  # fmt: skip
    except InputError as err:
        message = str(err)
        return FileResult(
            source.name, error=message if message.startswith(source.name) else f"{source.name}: {message}"
        )
    except Exception as err:  # a bug on one file must not take the others down with it
        detail = traceback.format_exc() if debug else f"{type(err).__name__}: {err}"
        return FileResult(source.name, error=f"{source.name}: unexpected error: {detail}")
    return FileResult(
        source.name,
        output=relative.as_posix(),
        clips=len(results),
        frames=sum(result.positions.shape[0] for result in results),
        filled=sum(int(result.filled.sum()) for result in results),
        scores=tuple(result.score for result in results),
    )


def impute_files(
    inputs: Iterable[str | Path],
    out: str | Path,
    config: ImputeConfig | None = None,
    *,
    workers: int | None = None,
    device: str = "cpu",
    overwrite: bool = False,
    strict: bool = False,
    progress: bool = True,
    debug: bool = False,
) -> ImputeSummary:
    """Fill the gaps of every motion file in the inputs, written under `out` in each file's own format.

    Args:
        inputs: files, folders (searched recursively) or zip archives.
        out: output folder; a rerun with the same settings resumes, redoing only changed inputs.
        config: how to fill (default: ImputeConfig(), the donor fill, scored by the shipped HG-VAE).
        workers: worker processes (default: every core); 1 runs in this process.
        device: torch device of the HG-VAE.
        overwrite: forget what `out` already holds instead of resuming.
        strict: stop at the first bad file.
        progress: show a tqdm bar and each failure as it happens.
        debug: put tracebacks in the failure lines of unexpected errors.
    Raises:
        InputError: no motion files in the inputs, an unreadable input or model, two inputs with one
            output path, or `out` written with other settings (without `overwrite`).
        KeyboardInterrupt: finished files are kept; a rerun resumes.
    """
    out, config = Path(out), config or ImputeConfig()
    workers = multiprocessing.cpu_count() if workers is None else workers
    if workers < 1:
        raise InputError(f"workers: must be at least 1, got {workers}")
    named = output_names(inputs, out)
    if not named:
        raise InputError("no motion files (.bvh, .csv) found in the inputs")
    if device != "cpu":  # a CUDA model does not survive a fork: one process drives the GPU
        workers = 1
    settings = config.to_dict()
    if config.uses_model:  # a bad checkpoint fails once, here, not once per file
        metadata = _model(config.model, device).metadata
        # The same weights and rule fill alike wherever the file lies; a retrained or recalibrated model does not.
        settings["model_version"] = {
            "iteration": metadata.iteration if metadata else None,
            "imputation": dict(metadata.imputation) if metadata else {},
        }
    out.mkdir(parents=True, exist_ok=True)
    manifest = Manifest.load(out, settings, overwrite)
    todo = [
        (source, relative)
        for source, relative in named
        if manifest.inputs.get(source.name, {}).get("key") != source_key(source) or not (out / relative).is_file()
    ]
    failures: list[str] = []
    done: set[str] = set()
    bar = tqdm(total=len(todo), unit="file", desc="impute", disable=None if progress else True)

    def finish(task: tuple[Source, Path], result: FileResult) -> bool:
        if result.error is None:
            manifest.inputs[result.source] = {"key": source_key(task[0])} | asdict(result)
            done.add(result.source)
        else:
            manifest.inputs.pop(result.source, None)  # an earlier run's figures no longer hold
            failures.append(result.error)
            if progress:
                bar.write(f"error: {result.error}", file=sys.stderr)
        manifest.save()
        bar.update(1)
        return not (strict and failures)

    with bar:
        run_pool(partial(impute_one, out=out, config=config, device=device, debug=debug), todo, workers, finish)
    files = tuple(_result(manifest.inputs[source.name]) for source, _ in named if source.name in manifest.inputs)
    write_summary(out / SUMMARY, files)
    return ImputeSummary(out, len(done), len(named) - len(todo), tuple(failures), files)


def _result(entry: dict) -> FileResult:
    fields = {name: value for name, value in entry.items() if name in FileResult.__dataclass_fields__}
    return FileResult(**fields | {"scores": tuple(fields.get("scores", ()))})


def write_summary(path: Path, files: tuple[FileResult, ...]) -> None:
    """OUT/summary.csv: one row per file: input, output, clips, frames, values filled, mean score."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["input", "output", "clips", "frames", "values_filled", "score_elbo_per_window"])
    for result in files:
        finite = [score for score in result.scores if math.isfinite(score)]
        score = f"{np.mean(finite):.1f}" if finite else ""
        writer.writerow([result.source, result.output, result.clips, result.frames, result.filled, score])
    write_bytes_atomic(path, text.getvalue().encode())
