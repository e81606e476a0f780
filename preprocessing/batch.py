"""The parallel, resumable batch job from mocap files to Parquet datasets: `preprocess()`.

The main process lists the sources, fixes each clip's name and split (motion.splits), and skips
what an earlier run already wrote (keyed by path, size, mtime and split, recorded in
OUT/manifest.json). Worker processes each handle a chunk of sources and write one part file per
dataset kind (temporary name, then rename); the manifest is rewritten the same way after every
chunk, so an interrupted run loses at most the chunks in flight.
"""

from __future__ import annotations

import json
import logging
import math
import multiprocessing
import sys
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

from tqdm import tqdm

from motion.dataset import KINDS, PART_GLOB, SPLITS
from motion.errors import InputError
from motion.formats import Source, list_sources
from motion.splits import SplitSource, split_sources
from preprocessing.job import ChunkResult, PreprocessConfig, SourceResult, process_chunk
from preprocessing.manifest import Manifest, source_key
from preprocessing.pool import run_pool

log = logging.getLogger(__name__)

MAX_CHUNK = 64  # sources per part file
CHUNKS_PER_WORKER = 4  # enough chunks to keep every worker busy to the end


@dataclass(frozen=True)
class Summary:
    """What a preprocessing run did and what OUT now holds.

    Attributes:
        out: the output folder; each dataset is OUT/<kind>.
        kinds: the datasets written.
        processed: inputs read and written by this run.
        skipped: inputs an earlier run had already written, unchanged.
        filtered: inputs left out by the content selection.
        failures: one line per input that failed ("file:row: what is wrong").
        clips, frames: all clips and frames OUT holds.
        rows: rows per dataset kind and split, e.g. rows["segments"]["train"].
        too_short: clips shorter than a segment (no segments).
    """

    out: Path
    kinds: tuple[str, ...]
    processed: int
    skipped: int
    filtered: int
    failures: tuple[str, ...]
    clips: int
    frames: int
    rows: dict[str, dict[str, int]]
    too_short: int

    @property
    def datasets(self) -> dict[str, Path]:
        """The folder of each dataset written, as motion.dataset.load_dataset takes it."""
        return {kind: self.out / kind for kind in self.kinds}

    def report(self) -> str:
        """The summary as `motion preprocess` prints it."""
        lines = [
            f"inputs: {self.processed} processed, {self.skipped} already done (skipped), {len(self.failures)} failed"
            + (f", {self.filtered} left out by --contents" if self.filtered else ""),
            f"clips: {self.clips:,}  frames: {self.frames:,}",
        ]
        for kind, per_split in self.rows.items():
            counts = "  ".join(f"{split} {n:,}" for split, n in per_split.items())
            lines.append(f"{kind}: {sum(per_split.values()):,} ({counts})")
        if self.too_short:
            lines.append(f"clips too short for a segment (no segments): {self.too_short}")
        return "\n".join(lines)


def preprocess(
    inputs: Iterable[str | Path],
    out: str | Path,
    config: PreprocessConfig | None = None,
    *,
    workers: int | None = None,
    overwrite: bool = False,
    strict: bool = False,
    progress: bool = True,
    debug: bool = False,
) -> Summary:
    """Cut mocap files into normalised segments and windows, written as Parquet datasets under `out`.

    Bad files are reported one line each (in the summary's failures, and on stderr as they happen
    when `progress` is on) and the others are still written; `strict` stops at the first.

    Args:
        inputs: files, folders (searched recursively) or zip archives.
        out: output folder; a rerun with the same settings resumes, redoing only changed inputs.
        config: what the datasets hold (default: PreprocessConfig()).
        workers: worker processes (default: every core); 1 runs in this process.
        overwrite: discard what `out` already holds instead of resuming.
        strict: stop at the first bad input.
        progress: show a tqdm bar.
        debug: put tracebacks in the failure lines of unexpected errors.
    Raises:
        InputError: no motion files in the inputs, an unreadable input, or `out` written with
            other settings (without `overwrite`).
        KeyboardInterrupt: finished chunks are kept; a rerun resumes.
    """
    out, config = Path(out), config or PreprocessConfig()
    workers = multiprocessing.cpu_count() if workers is None else workers
    if workers < 1:
        raise InputError(f"workers: must be at least 1, got {workers}")
    log.debug("config: %s", json.dumps(config.to_dict()))
    tasks, filtered = split_sources(list_sources(inputs), config.contents)
    if not tasks:
        raise InputError(
            "no motion files (.bvh, .csv) found in the inputs" + (" with those --contents" if config.contents else "")
        )
    out.mkdir(parents=True, exist_ok=True)
    manifest = Manifest.load(out, config.to_dict(), overwrite)
    todo = resume(manifest, tasks)
    manifest.save()
    prune_parts(manifest, out)
    try:
        failures = run_chunks(chunked(todo, workers), config, out, workers, strict, debug, progress, manifest)
    finally:
        prune_parts(manifest, out)
    processed = sum(1 for task in todo if task.source.name in manifest.inputs)
    return summarize(manifest, out, config.kinds, processed, len(tasks) - len(todo), filtered, failures)


def _entry_key(source: Source, split: str) -> list:
    return source_key(source, split)


def record(manifest: Manifest, result: SourceResult, task: SplitSource, part: str) -> None:
    manifest.inputs[task.source.name] = {
        "key": _entry_key(task.source, task.split),
        "clip": task.name,
        "split": task.split,
        "part": part,
        **{k: v for k, v in asdict(result).items() if k not in ("source", "error")},
    }


def resume(manifest: Manifest, tasks: list[SplitSource]) -> list[SplitSource]:
    """Forget stale parts and return the tasks still to do.

    A part stays only if every source in it is still an input with the same key; the
    current sources of the other parts are redone (prune_parts deletes their files).
    """
    current = {task.source.name: task for task in tasks}
    by_part: dict[str, list[str]] = {}
    for name, entry in manifest.inputs.items():
        by_part.setdefault(entry["part"], []).append(name)
    valid = {
        part
        for part, names in by_part.items()
        if all(
            name in current and manifest.inputs[name]["key"] == _entry_key(current[name].source, current[name].split)
            for name in names
        )
    }
    manifest.inputs = {name: entry for name, entry in manifest.inputs.items() if entry["part"] in valid}
    return [task for task in tasks if task.source.name not in manifest.inputs]


def prune_parts(manifest: Manifest, out: Path) -> None:
    """Delete part files the manifest does not name: stale ones, and any a stopped run finished unrecorded."""
    recorded = {entry["part"] for entry in manifest.inputs.values()}
    for kind in KINDS:
        for path in (out / kind).glob(PART_GLOB):
            if path.name not in recorded:
                path.unlink()


def chunked(tasks: list[SplitSource], workers: int) -> list[list[SplitSource]]:
    size = max(1, min(MAX_CHUNK, math.ceil(len(tasks) / (workers * CHUNKS_PER_WORKER))))
    return [tasks[i : i + size] for i in range(0, len(tasks), size)]


def run_chunks(
    chunks: list[list[SplitSource]],
    config: PreprocessConfig,
    out: Path,
    workers: int,
    strict: bool,
    debug: bool,
    progress: bool,
    manifest: Manifest,
) -> list[str]:
    """Process chunks (in worker processes when workers > 1), recording each finished chunk.

    Returns:
        the failed sources' one-line errors.
    """
    failures: list[str] = []
    total = sum(len(chunk) for chunk in chunks)
    bar = tqdm(total=total, unit="file", desc="preprocess", disable=None if progress else True)

    def finish(chunk: list[SplitSource], outcome: ChunkResult) -> bool:
        for task, result in zip(chunk, outcome.results):
            if result.error is None:
                record(manifest, result, task, outcome.part)
            else:
                failures.append(result.error)
                if progress:
                    bar.write(f"error: {result.error}", file=sys.stderr)
        manifest.save()
        bar.update(len(chunk))
        return not (strict and failures)

    with bar:
        run_pool(partial(process_chunk, config=config, out=out, debug=debug), chunks, workers, finish)
    return failures


def summarize(
    manifest: Manifest,
    out: Path,
    kinds: Sequence[str],
    processed: int,
    skipped: int,
    filtered: int,
    failures: list[str],
) -> Summary:
    entries = list(manifest.inputs.values())
    rows = {
        kind: {split: sum(e["rows"].get(kind, 0) for e in entries if e["split"] == split) for split in SPLITS}
        for kind in kinds
    }
    return Summary(
        out=out,
        kinds=tuple(kinds),
        processed=processed,
        skipped=skipped,
        filtered=filtered,
        failures=tuple(failures),
        clips=sum(e["clips"] for e in entries),
        frames=sum(e["frames"] for e in entries),
        rows=rows,
        too_short=sum(e["too_short"] for e in entries),
    )
