"""The deterministic train/val/test split by clip."""

from __future__ import annotations

from collections.abc import Iterable

SPLIT_PERIOD = 10
TEST_INDEX = 0
VAL_INDEX = 5


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
