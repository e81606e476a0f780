"""The split rule and its application to sources (motion.splits)."""

from motion.formats import list_sources
from motion.splits import assign_splits, split_sources
from tests.conftest import LOCOMOTION


def test_split_rule_by_sorted_name():
    splits = assign_splits([f"clip{i:02d}" for i in range(20)][::-1])
    assert [name for name, split in sorted(splits.items()) if split == "test"] == ["clip00", "clip10"]
    assert [name for name, split in sorted(splits.items()) if split == "val"] == ["clip05", "clip15"]


def test_contents_are_left_out_before_the_split(locomotion_bandai_zip):
    """Of the shipped clips, runs 001-015 sort to indices 0-14 and walks 001-010, 012-016 to 15-29."""
    sources, filtered = split_sources(list_sources([locomotion_bandai_zip]), ("run", "walk"))
    assert len(sources) == 30 and filtered == 30
    names = {
        split: [s.name.removeprefix("dataset-2_") for s in sources if s.split == split] for split in ("test", "val")
    }
    assert names["test"] == ["run_normal_001", "run_normal_011", "walk_normal_006"]
    assert names["val"] == ["run_normal_006", "walk_normal_001", "walk_normal_012"]


def test_locomotion_subset_gives_97_test_clips(bandai_zip):
    sources, filtered = split_sources(list_sources([bandai_zip]), LOCOMOTION)
    assert len(sources) == 962 and filtered == 2902 - 962
    counts = {split: sum(s.split == split for s in sources) for split in ("train", "val", "test")}
    assert counts == {"train": 769, "val": 96, "test": 97}
