from motion.formats import list_sources
from preprocessing.batch import plan_tasks
from preprocessing.splits import assign_splits
from tests.conftest import LOCOMOTION


def test_split_rule_by_sorted_name():
    splits = assign_splits([f"clip{i:02d}" for i in range(20)][::-1])
    assert [name for name, split in sorted(splits.items()) if split == "test"] == ["clip00", "clip10"]
    assert [name for name, split in sorted(splits.items()) if split == "val"] == ["clip05", "clip15"]


def test_locomotion_subset_gives_97_test_clips(bandai_zip):
    tasks, filtered = plan_tasks(list_sources([bandai_zip]), LOCOMOTION)
    assert len(tasks) == 962 and filtered == 2902 - 962
    counts = {split: sum(t.split == split for t in tasks) for split in ("train", "val", "test")}
    assert counts == {"train": 769, "val": 96, "test": 97}
