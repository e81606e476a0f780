import numpy as np

from motion.clip import resample
from motion.formats import read_clips
from motion.layout import WindowLayout
from motion.skeleton import preset_joint_map, preset_roles
from preprocessing.windows import build_windows
from tests.conftest import SAMPLE_CLIPS


def test_resample_hits_the_same_instants():
    positions = np.arange(31, dtype=np.float32)[:, None, None] * np.ones((1, 2, 3), np.float32)  # value = frame
    at_25 = resample(positions, 30.0, 25.0)
    assert at_25.shape[0] == 26  # 1 s span at 25 fps
    np.testing.assert_allclose(at_25[:, 0, 0], np.arange(26) * 30 / 25, atol=1e-5)
    assert resample(positions, 30.0, 30.0) is positions


def test_windows_are_normalised_at_their_first_frame():
    clip = read_clips(SAMPLE_CLIPS / "bandai" / "data" / "dataset-2_walk_normal_011.bvh")[0]
    positions = resample(clip.remap(preset_joint_map("bandai22", "laforge20")).positions, clip.fps, 25.0)
    roles = preset_roles("laforge20")
    features, starts = build_windows(positions, WindowLayout(), roles, stride=5)
    assert features.shape == (len(range(0, positions.shape[0] - 49, 5)), 3000)
    windows = features.reshape(-1, 50, 20, 3)
    np.testing.assert_allclose(windows[:, 0, roles["root"], :2], 0, atol=1e-5)
    across = windows[:, 0, roles["left_shoulder"]] - windows[:, 0, roles["right_shoulder"]]
    np.testing.assert_allclose(across[:, 0], 0, atol=1e-5)
    assert (windows[:, -1, roles["root"], 0] > 0.5).all()  # a walk goes forward over 2 s
