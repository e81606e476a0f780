import numpy as np
import pyarrow.parquet as pq
import pytest

from motion.dataset import FEATURES, load_dataset, make_table, write_part
from motion.errors import InputError
from motion.layout import SegmentLayout
from motion.skeleton import load_preset


def _metadata(sources):
    return {
        "kind": "segments",
        "skeleton": load_preset("laforge20").to_dict(),
        "fps": 30.0,
        "layout": SegmentLayout().to_dict(),
        "sources": sources,
    }


def test_parts_load_as_one_array_with_split_filter(tmp_path):
    gen = np.random.default_rng(0)
    a, b = gen.normal(size=(5, 487)).astype(np.float32), gen.normal(size=(3, 487)).astype(np.float32)
    write_part(
        make_table(a, ["c1"] * 5, np.arange(5), ["train"] * 4 + ["test"], ["walk"] * 5, [None] * 5, _metadata(["x"])),
        tmp_path / "part-a.parquet",
    )
    write_part(
        make_table(b, ["c2"] * 3, np.arange(3), ["test"] * 3, [None] * 3, ["old"] * 3, _metadata(["y"])),
        tmp_path / "part-b.parquet",
    )
    field = pq.read_schema(tmp_path / "part-a.parquet").field(FEATURES)
    assert field.type.list_size == 487 and str(field.type.value_type) == "float"
    data = load_dataset(tmp_path)
    np.testing.assert_array_equal(data.features, np.concatenate([a, b]))
    assert data.layout == SegmentLayout() and data.metadata["sources"] == ["x", "y"]
    test = load_dataset(tmp_path, split="test")
    np.testing.assert_array_equal(test.features, np.concatenate([a[4:], b]))
    assert list(test.clip) == ["c1", "c2", "c2", "c2"] and list(test.style) == [None, "old", "old", "old"]
    assert test.tensor().shape == (4, 487)
    assert not list(tmp_path.glob(".*tmp"))


def test_empty_folder_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="run `motion preprocess` first"):
        load_dataset(tmp_path)
