import numpy as np
import pytest

from motion.clip import Clip
from motion.errors import InputError
from motion.formats import ReadOptions, read_clips, write_joint_csv
from motion.skeleton import load_preset
from tests.conftest import DATA


def test_amass_csv_takes_smpl22_order_rate_from_time_and_keeps_gaps():
    clip = read_clips(DATA / "amass_joints.csv")[0]
    assert clip.skeleton.name == "smpl22" and clip.fps == 60.0 and clip.frames == 3
    smpl = load_preset("smpl22").joints
    wrist = smpl.index("left_wrist")
    # Joint k of the preset is at (k/10, frame, 1 + k/100), whatever the file's column order.
    np.testing.assert_allclose(clip.positions[2, wrist], [wrist / 10, 2, 1 + wrist / 100], atol=1e-6)
    assert (
        np.isnan(clip.positions[1, wrist, 0])
        and np.isfinite(np.delete(clip.positions.ravel(), 1 * 66 + wrist * 3)).all()
    )


def test_y_up_and_centimetres_convert_to_z_up_metres():
    clip = read_clips(DATA / "amass_joints.csv", ReadOptions(up="y", units="cm"))[0]
    pelvis = load_preset("smpl22").joints.index("pelvis")
    np.testing.assert_allclose(clip.positions[2, pelvis], [0.0, -0.01, 0.02], atol=1e-7)


def test_without_time_column_fps_is_required(tmp_path):
    path = tmp_path / "no_time.csv"
    path.write_text("a_x,a_y,a_z\n1,2,3\n4,5,6\n")
    with pytest.raises(InputError, match="no 'time' column; pass --fps"):
        read_clips(path)
    clip = read_clips(path, ReadOptions(fps=24))[0]
    assert clip.fps == 24 and clip.skeleton.joints == ("a",)


def test_write_then_read_is_bit_exact_including_gaps(tmp_path):
    gen = np.random.default_rng(0)
    positions = gen.normal(size=(7, 22, 3)).astype(np.float32)
    positions[3, 5] = np.nan
    clip = Clip(positions, load_preset("smpl22"), 30.0, "mem", "x")
    write_joint_csv(clip, tmp_path / "x.csv")
    again = read_clips(tmp_path / "x.csv")[0]
    assert again.fps == 30.0
    np.testing.assert_array_equal(again.positions, positions)


@pytest.mark.parametrize(
    "text, message",
    [
        ("time,a_x,a_y,a_z\n0,1,2,3\n0.1,1,x2,3\n", ":3: column 'a_y' is 'x2'"),
        ("time,a_x,a_y\n0,1,2\n", ":1: joint 'a' has no column a_z"),
        ("time,a_x,a_y,a_z,height\n0,1,2,3,4\n", ":1: column 5 is 'height'"),
    ],
)
def test_broken_joint_csv_names_row_and_column(tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        read_clips(path)
    assert str(err.value).startswith(str(path)) and message in str(err.value)
