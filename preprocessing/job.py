"""One chunk of preprocessing work: read sources, map joints, cut segments and windows, write part files.

Runs inside worker processes; everything it takes and returns pickles cheaply.
"""

from __future__ import annotations

import hashlib
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

import motion
from motion.clip import resample
from motion.conventions import TRAINING_SKELETON
from motion.dataset import DEFAULT_KINDS, KINDS, make_table, write_part
from motion.encoding import encode_segments, encode_windows
from motion.errors import InputError
from motion.formats import ReadOptions, read_source
from motion.layout import SegmentLayout, WindowLayout
from motion.skeleton import load_joint_map, load_preset, preset_names, preset_roles, resolve_joint_map
from motion.splits import SPLIT_RULE, SplitSource  # a source to process, its clip name and split fixed


@dataclass(frozen=True)
class PreprocessConfig:
    """Settings that determine the datasets' contents (all of them are saved in the manifest).

    Attributes:
        kinds: which datasets to write, of "segments", "windows" and "poses".
        skeleton: training layout preset every clip is mapped to.
        joint_map: optional JSON joint map for sources whose skeleton is no preset.
        read: how to read the files (format, fps, up axis, units).
        segment_fps: frame rate segments are cut at; clips at other rates are resampled.
        segment_stride: frames between segment starts.
        window_frames, window_fps, window_stride: HG-VAE window length, rate and stride.
        pose_stride: frames (at segment_fps) between poses: single frames normalised like a
            segment's current frame (root on the ground at the origin, facing +x), for posing.
        contents: keep only clips with these content labels (empty: keep all).
    """

    kinds: tuple[str, ...] = DEFAULT_KINDS
    skeleton: str = TRAINING_SKELETON
    joint_map: str | None = None
    read: ReadOptions = field(default_factory=ReadOptions)
    segment_fps: float = 30.0  # the DRMM paper's animation rate (App. C)
    segment_stride: int = 1
    window_frames: int = WindowLayout.frames
    window_fps: float = WindowLayout.fps
    window_stride: int = 5
    pose_stride: int = 5
    contents: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "kinds", tuple(self.kinds))
        object.__setattr__(self, "contents", tuple(self.contents))
        unknown = sorted(set(self.kinds) - set(KINDS))
        if unknown or not self.kinds:
            raise InputError(f"kinds: expected some of {', '.join(KINDS)}, got {', '.join(self.kinds) or 'none'}")
        if self.skeleton not in preset_names():
            raise InputError(f"skeleton: unknown preset {self.skeleton!r}; known: {', '.join(preset_names())}")
        for name in ("segment_stride", "window_frames", "window_stride", "pose_stride"):
            if getattr(self, name) < 1:
                raise InputError(f"{name}: must be at least 1, got {getattr(self, name)}")
        for name in ("segment_fps", "window_fps"):
            if not getattr(self, name) > 0:
                raise InputError(f"{name}: must be positive, got {getattr(self, name)}")
        if self.joint_map is not None:
            object.__setattr__(self, "joint_map", str(Path(self.joint_map).resolve()))
            load_joint_map(self.joint_map)  # a bad map is one error, not one per file

    def to_dict(self) -> dict:
        settings = asdict(self) | {"kinds": list(self.kinds), "contents": list(self.contents)}
        if "poses" not in self.kinds:  # it changes nothing written, so folders from before it still resume
            del settings["pose_stride"]
        return settings


@dataclass
class SourceResult:
    """What became of one source: counts, or the one-line error."""

    source: str
    clips: int = 0
    frames: int = 0
    rows: dict[str, int] = field(default_factory=dict)  # kind -> rows written
    too_short: int = 0  # clips shorter than a segment
    error: str | None = None


class Rows(NamedTuple):
    """One clip's rows for one dataset kind."""

    features: np.ndarray  # (rows, width) float32
    starts: np.ndarray  # (rows,) first frame of each row
    clip: str
    split: str
    labels: dict[str, str]


@dataclass
class ChunkResult:
    part: str | None  # part file name (same in every kind's folder), None if nothing was written
    results: list[SourceResult]


def part_name(tasks: list[SplitSource]) -> str:
    """A part's file name, derived from its sources' identities so reruns never collide."""
    digest = hashlib.sha1()
    for task in tasks:
        digest.update(f"{task.source.name}|{task.source.size}|{task.source.mtime}|{task.split}\n".encode())
    return f"part-{digest.hexdigest()[:16]}.parquet"


def segment_layout(config: PreprocessConfig) -> SegmentLayout:
    return SegmentLayout(joints=len(load_preset(config.skeleton)))


def window_layout(config: PreprocessConfig) -> WindowLayout:
    return WindowLayout(len(load_preset(config.skeleton)), config.window_frames, config.window_fps)


def pose_layout(config: PreprocessConfig) -> WindowLayout:
    """A pose: one frame of every joint, normalised at itself, at the segments' rate."""
    return WindowLayout(len(load_preset(config.skeleton)), 1, config.segment_fps)


def dataset_metadata(config: PreprocessConfig, kind: str, sources: list[str]) -> dict:
    """The JSON metadata stored in every part file of the `kind` dataset."""
    skeleton = load_preset(config.skeleton)
    if kind == "segments":
        layout, fps, params = segment_layout(config), config.segment_fps, {"stride": config.segment_stride}
    elif kind == "poses":
        layout, fps, params = pose_layout(config), config.segment_fps, {"stride": config.pose_stride}
    else:
        layout, fps, params = window_layout(config), config.window_fps, {"stride": config.window_stride}
    return {
        "kind": kind,
        "skeleton": skeleton.to_dict(),
        "fps": fps,
        "layout": layout.to_dict(),
        "window": params | {"normalised_at_frame": layout.current_frame if kind == "segments" else 0},
        "split_rule": SPLIT_RULE,
        "sources": sources,
        "version": motion.__version__,
    }


def process_chunk(tasks: list[SplitSource], config: PreprocessConfig, out: Path, debug: bool = False) -> ChunkResult:
    """Read each task's source, cut its clips and write one part file per dataset kind.

    Errors are caught per source and reported in its result, so one bad file costs only itself.
    """
    roles = preset_roles(config.skeleton)
    layouts = {"segments": segment_layout(config), "windows": window_layout(config), "poses": pose_layout(config)}
    seg_layout, win_layout = layouts["segments"], layouts["windows"]
    rows: dict[str, list[Rows]] = {kind: [] for kind in config.kinds}
    results = []
    for task in tasks:
        result = SourceResult(task.source.name, rows={kind: 0 for kind in config.kinds})
        source_rows: list[tuple[str, Rows]] = []  # kept only if every clip of the source succeeds
        try:
            clips = read_source(task.source, config.read)
            for clip in clips:
                clip = clip.remap(resolve_joint_map(clip.skeleton, config.skeleton, config.joint_map, clip.source))
                name = task.name if len(clips) == 1 else f"{task.name}{clip.name[len(task.source.stem) :]}"
                result.clips += 1
                result.frames += clip.frames
                for kind in config.kinds:
                    if kind == "segments":
                        positions = resample(clip.positions, clip.fps, config.segment_fps)
                        features, starts = encode_segments(positions, seg_layout, roles, config.segment_stride)
                        result.too_short += int(positions.shape[0] < seg_layout.window_frames)
                    elif kind == "poses":
                        positions = resample(clip.positions, clip.fps, config.segment_fps)
                        features, starts = encode_windows(positions, layouts["poses"], roles, config.pose_stride)
                    else:
                        positions = resample(clip.positions, clip.fps, config.window_fps)
                        features, starts = encode_windows(positions, win_layout, roles, config.window_stride)
                    source_rows.append((kind, Rows(features, starts, name, task.split, clip.labels)))
                    result.rows[kind] += len(starts)
            for kind, piece in source_rows:
                rows[kind].append(piece)
        except InputError as err:
            result = SourceResult(task.source.name, error=str(err))
        except Exception as err:  # a reader bug must not take the other files down with it
            detail = traceback.format_exc() if debug else f"{type(err).__name__}: {err}"
            result = SourceResult(task.source.name, error=f"{task.source.name}: unexpected error: {detail}")
        results.append(result)

    done = [task.source.name for task, result in zip(tasks, results) if result.error is None]
    if not done:
        return ChunkResult(None, results)
    part = part_name(tasks)
    for kind, pieces in rows.items():
        width = layouts[kind].size
        table = make_table(
            np.concatenate([r.features for r in pieces] + [np.zeros((0, width), np.float32)]),
            [r.clip for r in pieces for _ in r.starts],
            np.concatenate([r.starts for r in pieces] + [np.zeros(0, np.int64)]),
            [r.split for r in pieces for _ in r.starts],
            [r.labels.get("content") for r in pieces for _ in r.starts],
            [r.labels.get("style") for r in pieces for _ in r.starts],
            dataset_metadata(config, kind, done),
        )
        folder = out / kind
        folder.mkdir(parents=True, exist_ok=True)
        write_part(table, folder / part)
    return ChunkResult(part, results)
