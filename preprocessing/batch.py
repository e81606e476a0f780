"""`motion preprocess`: the parallel, resumable batch job from mocap files to Parquet datasets.

The main process lists the sources, fixes each clip's name and split, and skips what an
earlier run already wrote (keyed by path, size, mtime and split, recorded in OUT/manifest.json).
Worker processes each handle a chunk of sources and write one part file per dataset kind
(temporary name, then rename); the manifest is rewritten the same way after every chunk,
so an interrupted run loses at most the chunks in flight.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import multiprocessing
import sys
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import asdict
from pathlib import Path

import torch
from tqdm import tqdm

import motion
from motion.atomic import write_bytes_atomic
from motion.cli import run_guarded
from motion.dataset import KINDS, PART_GLOB, SPLITS
from motion.errors import InputError
from motion.formats import FORMATS, ReadOptions, Source, list_sources
from motion.skeleton import preset_names
from preprocessing.job import ChunkResult, PreprocessConfig, SourceResult, Task, process_chunk
from preprocessing.splits import assign_splits

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
MAX_CHUNK = 64  # sources per part file
CHUNKS_PER_WORKER = 4  # enough chunks to keep every worker busy to the end


def clip_names(sources: list[Source]) -> list[str]:
    """A unique clip name per source: its stem, prefixed by its folder where stems collide."""
    stems = Counter(source.stem for source in sources)
    names = []
    for source in sources:
        if stems[source.stem] == 1:
            names.append(source.stem)
        else:
            inner = Path(source.member) if source.member is not None else source.path
            names.append(f"{inner.parent.name}/{source.stem}")
    repeated = [name for name, count in Counter(names).items() if count > 1]
    if repeated:
        raise InputError(f"two inputs are both named {repeated[0]!r}; clip names must be unique")
    return names


def plan_tasks(sources: list[Source], contents: tuple[str, ...]) -> tuple[list[Task], int]:
    """Tasks for the sources whose content label is wanted, with splits over that set.

    Returns:
        The tasks and how many sources --contents filtered out.
    """
    kept = sources
    if contents:
        kept = [source for source in sources if source.labels().get("content") in contents]
    names = clip_names(kept)
    splits = assign_splits(names)
    return [Task(source, name, splits[name]) for source, name in zip(kept, names)], len(sources) - len(kept)


def _entry_key(source: Source, split: str) -> list:
    return [source.size, source.mtime, split]


class Manifest:
    """OUT/manifest.json: the settings and, per finished source, its key, part file and counts."""

    def __init__(self, out: Path, config: PreprocessConfig):
        self.path = out / MANIFEST
        self.config = config.to_dict()
        self.inputs: dict[str, dict] = {}

    @classmethod
    def load(cls, out: Path, config: PreprocessConfig, overwrite: bool) -> Manifest:
        manifest = cls(out, config)
        if overwrite or not manifest.path.exists():
            return manifest
        try:
            data = json.loads(manifest.path.read_text())
            previous, inputs = data["config"], data["inputs"]
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise InputError(
                f"{manifest.path}: unreadable manifest ({err}); pass --overwrite to start afresh"
            ) from None
        if previous != manifest.config:
            field = next(
                k for k in sorted(set(previous) | set(manifest.config)) if previous.get(k) != manifest.config.get(k)
            )
            raise InputError(
                f"{out} was written with other settings ({field}: {previous.get(field)!r}, now "
                f"{manifest.config.get(field)!r}); use another --out or pass --overwrite"
            )
        manifest.inputs = inputs
        return manifest

    def record(self, result: SourceResult, task: Task, part: str) -> None:
        self.inputs[task.source.name] = {
            "key": _entry_key(task.source, task.split),
            "clip": task.name,
            "split": task.split,
            "part": part,
            **{k: v for k, v in asdict(result).items() if k not in ("source", "error")},
        }

    def save(self) -> None:
        data = {"version": motion.__version__, "config": self.config, "inputs": self.inputs}
        write_bytes_atomic(self.path, json.dumps(data, indent=1).encode())


def resume(manifest: Manifest, tasks: list[Task]) -> list[Task]:
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


def chunked(tasks: list[Task], workers: int) -> list[list[Task]]:
    size = max(1, min(MAX_CHUNK, math.ceil(len(tasks) / (workers * CHUNKS_PER_WORKER))))
    return [tasks[i : i + size] for i in range(0, len(tasks), size)]


def _init_worker() -> None:
    torch.set_num_threads(1)  # one process per core already; more threads only contend


def run_chunks(
    chunks: list[list[Task]],
    config: PreprocessConfig,
    out: Path,
    workers: int,
    strict: bool,
    debug: bool,
    manifest: Manifest,
) -> list[SourceResult]:
    """Process chunks (in worker processes when workers > 1), recording each finished chunk."""
    failures: list[SourceResult] = []

    def finish(chunk: list[Task], outcome: ChunkResult, bar: tqdm) -> bool:
        for task, result in zip(chunk, outcome.results):
            if result.error is None:
                manifest.record(result, task, outcome.part)
            else:
                failures.append(result)
                bar.write(f"error: {result.error}", file=sys.stderr)
        manifest.save()
        bar.update(len(chunk))
        return not (strict and failures)

    total = sum(len(chunk) for chunk in chunks)
    if workers == 1 or len(chunks) == 1:
        with tqdm(total=total, unit="file", desc="preprocess", disable=None) as bar:
            for chunk in chunks:
                if not finish(chunk, process_chunk(chunk, config, out, debug), bar):
                    break
        return failures

    context = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker) as pool:
        pending: dict[Future, list[Task]] = {pool.submit(process_chunk, c, config, out, debug): c for c in chunks}
        with tqdm(total=total, unit="file", desc="preprocess", disable=None) as bar:
            try:
                while pending:
                    finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for future in finished:
                        if not finish(pending.pop(future), future.result(), bar):
                            pending.clear()
                            break
            finally:
                pool.shutdown(cancel_futures=True)
    return failures


def summarize(
    manifest: Manifest, kinds: Iterable[str], processed: int, skipped: int, filtered: int, failed: int
) -> str:
    entries = manifest.inputs.values()
    clips = sum(e["clips"] for e in entries)
    frames = sum(e["frames"] for e in entries)
    lines = [
        f"inputs: {processed} processed, {skipped} already done (skipped), {failed} failed"
        + (f", {filtered} left out by --contents" if filtered else ""),
        f"clips: {clips:,}  frames: {frames:,}",
    ]
    for kind in kinds:
        per_split = {split: sum(e["rows"].get(kind, 0) for e in entries if e["split"] == split) for split in SPLITS}
        counts = "  ".join(f"{split} {n:,}" for split, n in per_split.items())
        lines.append(f"{kind}: {sum(per_split.values()):,} ({counts})")
    too_short = sum(e["too_short"] for e in entries)
    if too_short:
        lines.append(f"clips too short for a segment (no segments): {too_short}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="motion preprocess",
        description="Cut mocap files (BVH, LaForge CSV, joint CSV, also in zips) into normalised "
        "DRMM segments and HG-VAE windows, written as Parquet datasets under OUT/segments and OUT/windows.",
    )
    parser.add_argument("inputs", nargs="+", help="files, folders (searched recursively) or zip archives")
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("--kind", choices=("segments", "windows", "both"), default="both", help="datasets to write")
    parser.add_argument(
        "--workers", type=int, default=multiprocessing.cpu_count(), help="worker processes (default: all cores)"
    )
    parser.add_argument("--format", choices=FORMATS, help="force the input format (default: detect)")
    parser.add_argument(
        "--skeleton", choices=preset_names(), default="laforge20", help="training layout every clip is mapped to"
    )
    parser.add_argument("--joint-map", help="JSON joint map for skeletons that are no preset")
    parser.add_argument(
        "--fps", type=float, help="frame rate of inputs that carry none (LaForge: 30; joint CSV without time)"
    )
    parser.add_argument("--up", choices=("y", "z"), help="up axis of the inputs (BVH default y, joint CSV z)")
    parser.add_argument(
        "--units", choices=("m", "cm", "mm"), help="units of the inputs (BVH: from the skeleton's height)"
    )
    parser.add_argument("--contents", help="comma-separated content labels to keep, e.g. walk,run")
    parser.add_argument("--segment-stride", type=int, default=1, help="frames between segment starts")
    parser.add_argument("--segment-fps", type=float, default=30.0, help="frame rate segments are cut at")
    parser.add_argument("--window-frames", type=int, default=50, help="frames per HG-VAE window")
    parser.add_argument("--window-fps", type=float, default=25.0, help="frame rate HG-VAE windows are resampled to")
    parser.add_argument("--window-stride", type=int, default=5, help="frames between window starts")
    parser.add_argument("--overwrite", action="store_true", help="discard what OUT already holds instead of resuming")
    parser.add_argument("--strict", action="store_true", help="stop at the first bad input")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    return parser


def config_from_args(args: argparse.Namespace) -> PreprocessConfig:
    for flag in ("workers", "segment_stride", "window_frames", "window_stride"):
        if getattr(args, flag) < 1:
            raise InputError(f"--{flag.replace('_', '-')} must be at least 1, got {getattr(args, flag)}")
    for flag in ("segment_fps", "window_fps"):
        if not getattr(args, flag) > 0:
            raise InputError(f"--{flag.replace('_', '-')} must be positive, got {getattr(args, flag)}")
    return PreprocessConfig(
        kinds=KINDS if args.kind == "both" else (args.kind,),
        skeleton=args.skeleton,
        joint_map=str(Path(args.joint_map).resolve()) if args.joint_map else None,
        read=ReadOptions(args.format, args.fps, args.up, args.units),
        segment_fps=args.segment_fps,
        segment_stride=args.segment_stride,
        window_frames=args.window_frames,
        window_fps=args.window_fps,
        window_stride=args.window_stride,
        contents=tuple(c.strip() for c in args.contents.split(",") if c.strip()) if args.contents else (),
    )


def run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    log.info("config: %s", json.dumps(config.to_dict()))
    if config.joint_map:
        motion.load_joint_map(config.joint_map)  # a bad map is one error, not one per file
    tasks, filtered = plan_tasks(list_sources(args.inputs), config.contents)
    if not tasks:
        raise InputError(
            "no motion files (.bvh, .csv) found in the inputs" + (" with those --contents" if config.contents else "")
        )
    args.out.mkdir(parents=True, exist_ok=True)
    manifest = Manifest.load(args.out, config, args.overwrite)
    todo = resume(manifest, tasks)
    manifest.save()
    prune_parts(manifest, args.out)
    try:
        chunks = chunked(todo, args.workers)
        failures = run_chunks(chunks, config, args.out, args.workers, args.strict, args.debug, manifest)
    finally:
        prune_parts(manifest, args.out)
    processed = sum(1 for task in todo if task.source.name in manifest.inputs)
    print(summarize(manifest, config.kinds, processed, len(tasks) - len(todo), filtered, len(failures)))
    print(f"datasets: {', '.join(str(args.out / kind) for kind in config.kinds)}")
    if failures:
        print(f"{len(failures)} input(s) failed (listed above); fix them and run again to add them", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_guarded(
        run, build_parser().parse_args(argv), "interrupted; finished chunks are kept, run again to resume"
    )


if __name__ == "__main__":
    sys.exit(main())
