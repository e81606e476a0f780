"""Clip names and the deterministic train/val/test split by clip: the rule every dataset and figure uses."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

from motion.clip import Clip, resample
from motion.errors import InputError
from motion.formats import ReadOptions, list_sources, read_source
from motion.formats.sources import Source
from motion.skeleton import resolve_joint_map

SPLIT_PERIOD = 10
TEST_INDEX = 0
VAL_INDEX = 5
SPLIT_RULE = (
    f"sorted clip names; i % {SPLIT_PERIOD} == {TEST_INDEX}: test, i % {SPLIT_PERIOD} == {VAL_INDEX}: val, else train"
)
"""The rule in words, as dataset metadata records it."""


class SplitSource(NamedTuple):
    """A motion file with its clip name and split."""

    source: Source
    name: str
    split: str


def assign_splits(names: Iterable[str]) -> dict[str, str]:
    """Split clips by name: sort the names; clip i is test when i % 10 == 0, val when i % 10 == 5, else train.

    All reported figures use this rule. The 962 locomotion clips of the Bandai data give
    97 test and 96 val clips.

    Args:
        names: unique clip names.
    Returns:
        {name: "train" | "val" | "test"}.
    """
    splits = {}
    for index, name in enumerate(sorted(set(names))):
        phase = index % SPLIT_PERIOD
        splits[name] = "test" if phase == TEST_INDEX else "val" if phase == VAL_INDEX else "train"
    return splits


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


def split_sources(sources: list[Source], contents: Iterable[str] = ()) -> tuple[list[SplitSource], int]:
    """The sources whose content label is wanted, named, with splits assigned over that set.

    The unit is the source file: the takes of a multi-take file share its split.

    Args:
        sources: motion files (motion.formats.list_sources).
        contents: content labels to keep (sidecar labels); empty keeps every source.
    Returns:
        the kept sources in listing order, and how many `contents` left out.
    """
    wanted = set(contents)
    kept = [source for source in sources if source.labels().get("content") in wanted] if wanted else sources
    names = clip_names(kept)
    splits = assign_splits(names)
    return [SplitSource(source, name, splits[name]) for source, name in zip(kept, names)], len(sources) - len(kept)


def split_clips(
    paths: Iterable[str | Path],
    contents: Iterable[str],
    skeleton: str,
    fps: float,
    splits: Iterable[str],
    options: ReadOptions = ReadOptions(),
) -> list[Clip]:
    """The clips of some splits, as preprocessing splits them, on preset `skeleton` at `fps`.

    Args:
        paths: mocap files, folders or zip archives (as `motion preprocess` takes them).
        contents: content labels to keep (e.g. the locomotion ones); empty keeps all.
        splits: of "train", "val", "test".
        options: how to read the files.
    Returns:
        the clips, in listing order, positions (frames, joints, 3) metres, Z-up.
    Raises:
        InputError: a file that cannot be read or mapped onto the skeleton, naming it.
    """
    wanted = set(splits)
    sources, _ = split_sources(list_sources(paths), contents)
    clips = []
    for source in sources:
        if source.split not in wanted:
            continue
        for clip in read_source(source.source, options):
            clip = clip.remap(resolve_joint_map(clip.skeleton, skeleton, None, clip.source))
            clips.append(replace(clip, positions=resample(clip.positions, clip.fps, fps), fps=fps))
    return clips
