import numpy as np
import pytest

from motion.errors import InputError
from motion.formats import read_clips, write_laforge_csv
from tests.conftest import DATA, SAMPLE_CLIPS


def test_two_takes_split_at_is_first_and_axes_swap():
    take1, take2 = read_clips(DATA / "two_takes.csv")
    assert (take1.name, take1.frames, take2.name, take2.frames) == ("two_takes_take1", 3, "two_takes_take2", 2)
    assert take1.skeleton.name == "laforge20" and take1.fps == 30.0
    # Row r, joint j is at Unity (r + j/100, 1 + j/100, -r): Z-up swaps y and z.
    np.testing.assert_allclose(take2.positions[0, 5], [3.05, -3.0, 1.05], atol=1e-6)
    np.testing.assert_allclose(take1.positions[2, 0], [2.0, -2.0, 1.0], atol=1e-6)


def test_write_then_read_is_bit_exact(tmp_path):
    clips = read_clips(SAMPLE_CLIPS / "laforge" / "walk_run_two_takes.csv")
    path = tmp_path / "out.csv"
    write_laforge_csv(clips, path)
    again = read_clips(path)
    assert [c.frames for c in again] == [c.frames for c in clips]
    for before, after in zip(clips, again):
        np.testing.assert_array_equal(before.positions, after.positions)


@pytest.mark.parametrize(
    "row, edit, message",
    [
        (1, lambda line: line.replace("(1.01, 1.01, -1)", "(1.01, oops, -1)", 1), ":2: column 3 (joint 'spine')"),
        (2, lambda line: "2" + line[1:], ":3: column 1 (is_first) is 2"),
        (0, lambda line: line.rsplit(";", 2)[0] + ";", ":1: 19 joint cells; expected 20"),
    ],
)
def test_broken_laforge_csv_names_row_and_joint(tmp_path, row, edit, message):
    lines = (DATA / "two_takes.csv").read_text().splitlines()
    lines[row] = edit(lines[row])
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError) as err:
        read_clips(
            path,
        )
    assert str(err.value).startswith(str(path)) and message in str(err.value)
