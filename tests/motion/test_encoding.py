"""The segment and window encodings (motion.encoding) on real clips: normalisation, block means and
goals against direct computations, invariance to where the clip is, strides, short clips and gaps."""

import math

import numpy as np
import pytest
import torch

from motion.clip import resample
from motion.encoding import encode_segments, encode_windows
from motion.formats import read_clips
from motion.layout import SegmentLayout, WindowLayout
from motion.skeleton import preset_joint_map, preset_roles
from tests.conftest import BANDAI_SAMPLES

LAYOUT = SegmentLayout()
ROLES = preset_roles("laforge20")


@pytest.fixture(scope="module")
def walk():
    clip = read_clips(BANDAI_SAMPLES / "data" / "dataset-2_walk-turn-left_normal_027.bvh")[0]
    return clip.remap(preset_joint_map("bandai22", "laforge20")).positions


def test_current_frame_has_root_at_origin_facing_plus_x(walk):
    features, starts = encode_segments(walk, LAYOUT, ROLES)
    assert features.shape == (walk.shape[0] - 39, 487) and list(starts[:3]) == [0, 1, 2]
    current = features[:, LAYOUT.context_block(2)].reshape(-1, 20, 3)  # block [9, 10) is the current frame
    np.testing.assert_allclose(current[:, ROLES["root"], :2], 0, atol=1e-5)
    across = current[:, ROLES["left_shoulder"]] - current[:, ROLES["right_shoulder"]]
    np.testing.assert_allclose(across[:, 0], 0, atol=1e-5)  # shoulders across +y: facing +x
    assert (across[:, 1] > 0).all()
    np.testing.assert_allclose(np.linalg.norm(features[:, LAYOUT.goal_forward], axis=1), 1, atol=1e-5)


def test_blocks_and_goals_match_a_direct_computation(walk):
    features, _ = encode_segments(walk, LAYOUT, ROLES)
    start = 57
    window = torch.from_numpy(walk[start : start + 40]).double()
    root, left, right = window[9, ROLES["root"]], window[9, ROLES["left_shoulder"]], window[9, ROLES["right_shoulder"]]
    yaw = math.atan2(-(left - right)[0].item(), (left - right)[1].item())  # facing = (across_y, -across_x)
    rotation = torch.tensor(
        [[math.cos(-yaw), -math.sin(-yaw), 0], [math.sin(-yaw), math.cos(-yaw), 0], [0, 0, 1]], dtype=torch.float64
    )
    local = (window - torch.tensor([root[0], root[1], 0], dtype=torch.float64)) @ rotation.T
    np.testing.assert_allclose(features[start, LAYOUT.context_block(0)], local[0:7].mean(0).reshape(-1), atol=1e-5)
    np.testing.assert_allclose(features[start, LAYOUT.next_pose(4)], local[14].reshape(-1), atol=1e-5)
    np.testing.assert_allclose(
        features[start, LAYOUT.goal_root_position], local[10:40, ROLES["root"]].mean(0), atol=1e-5
    )
    np.testing.assert_allclose(
        features[start, LAYOUT.goal_head_height], local[10:40, ROLES["head"], 2].mean(), atol=1e-5
    )


def test_segments_do_not_depend_on_where_the_clip_is_or_faces(walk):
    angle = 2.1
    turn = np.array(
        [[math.cos(angle), -math.sin(angle), 0], [math.sin(angle), math.cos(angle), 0], [0, 0, 1]], np.float32
    )
    moved = walk @ turn.T + np.array([12.0, -7.0, 0.0], np.float32)
    np.testing.assert_allclose(
        encode_segments(moved, LAYOUT, ROLES)[0], encode_segments(walk, LAYOUT, ROLES)[0], atol=2e-4
    )


def test_stride_short_clips_and_gaps(walk):
    assert encode_segments(walk, LAYOUT, ROLES, stride=10)[1].tolist() == list(range(0, walk.shape[0] - 39, 10))
    assert encode_segments(walk[:39], LAYOUT, ROLES)[0].shape == (0, 487)
    gappy = walk.copy()
    gappy[100, 3] = np.nan
    _, starts = encode_segments(gappy, LAYOUT, ROLES)
    # Joint 3 (a knee) enters the context and next poses (frames 0-14), not the goals.
    assert not any(s <= 100 < s + 15 for s in starts) and len(starts) == walk.shape[0] - 39 - 15


def test_resample_hits_the_same_instants():
    positions = np.arange(31, dtype=np.float32)[:, None, None] * np.ones((1, 2, 3), np.float32)  # value = frame
    at_25 = resample(positions, 30.0, 25.0)
    assert at_25.shape[0] == 26  # 1 s span at 25 fps
    np.testing.assert_allclose(at_25[:, 0, 0], np.arange(26) * 30 / 25, atol=1e-5)
    assert resample(positions, 30.0, 30.0) is positions


def test_windows_are_normalised_at_their_first_frame():
    clip = read_clips(BANDAI_SAMPLES / "data" / "dataset-2_walk_normal_011.bvh")[0]
    positions = resample(clip.remap(preset_joint_map("bandai22", "laforge20")).positions, clip.fps, 25.0)
    roles = preset_roles("laforge20")
    features, starts = encode_windows(positions, WindowLayout(), roles, stride=5)
    assert features.shape == (len(range(0, positions.shape[0] - 49, 5)), 3000)
    windows = features.reshape(-1, 50, 20, 3)
    np.testing.assert_allclose(windows[:, 0, roles["root"], :2], 0, atol=1e-5)
    across = windows[:, 0, roles["left_shoulder"]] - windows[:, 0, roles["right_shoulder"]]
    np.testing.assert_allclose(across[:, 0], 0, atol=1e-5)
    assert (windows[:, -1, roles["root"], 0] > 0.5).all()  # a walk goes forward over 2 s
