"""Seam inertialization and foot locking, on a real walk."""

import numpy as np
import torch

from motion.formats import read_clips
from playback.contacts import FootLock, legs, two_bone_ik
from playback.metrics import motion_metrics
from playback.seams import decaying_offset, inertialize
from tests.conftest import BANDAI_SAMPLES

WALK = BANDAI_SAMPLES / "data" / "dataset-2_walk_normal_011.bvh"


def test_the_decaying_offset_starts_at_the_jump_and_ends_at_rest():
    x0, v0, a0 = torch.tensor([0.3, -0.1]), torch.tensor([0.05, 0.02]), torch.tensor([-0.01, 0.0])
    h = 1e-3
    t = torch.tensor([0.0, h, 2 * h, 5 - 2 * h, 5 - h, 5.0, 7.0], dtype=torch.float64)
    x = decaying_offset(x0.double(), v0.double(), a0.double(), t, 5.0)
    assert torch.allclose(x[0], x0.double()) and torch.allclose((x[1] - x[0]) / h, v0.double(), atol=1e-3)
    assert torch.allclose((x[2] - 2 * x[1] + x[0]) / h**2, a0.double(), atol=1e-2)
    assert torch.allclose(x[3:], torch.zeros(4, 2, dtype=torch.float64), atol=1e-6)


def test_inertialization_continues_the_played_frames_and_lands_on_the_sample():
    walk = torch.from_numpy(read_clips([WALK])[0].positions[:20])
    played, sampled = walk[:3], walk[3:15] + torch.tensor([0.2, -0.1, 0.05])  # the sample jumps 23 cm
    joined = inertialize(played, sampled[0], sampled[1:], duration=10)
    # Continuous: the first new frame is where the played motion goes, not where the sample jumped.
    assert (joined[0] - walk[3]).norm(dim=-1).max() < 0.01
    assert torch.allclose(joined[-2:], sampled[-2:])  # from frame 10 on, the sample itself
    unchanged = inertialize(played, walk[2], walk[3:8], duration=5)  # nothing to join
    assert (unchanged - walk[3:8]).abs().max() < 0.02


def test_two_bone_ik_keeps_both_lengths_and_reaches_a_reachable_target():
    hip, knee, ankle = torch.tensor([0.0, 0, 0.9]), torch.tensor([0.05, 0, 0.5]), torch.tensor([0.0, 0, 0.1])
    target = ankle + torch.tensor([0.1, 0.05, 0.1])
    new_knee, new_ankle = two_bone_ik(hip, knee, ankle, target)
    assert torch.allclose(new_ankle, target, atol=1e-4)
    assert torch.isclose((new_knee - hip).norm(), (knee - hip).norm(), atol=1e-5)
    assert torch.isclose((new_ankle - new_knee).norm(), (ankle - knee).norm(), atol=1e-5)
    assert new_knee[0] > (hip[0] + new_ankle[0]) / 2  # bends forward, as the original knee did
    far = ankle + torch.tensor([0.3, 0.0, 0.0])  # out of reach: the leg stretches toward it
    _, stretched = two_bone_ik(hip, knee, ankle, far)
    direction = (far - hip) / (far - hip).norm()
    assert torch.allclose(stretched, hip + direction * ((knee - hip).norm() * 2 - 1e-4), atol=1e-4)


def test_foot_locking_stops_the_skating_of_a_sliding_real_walk():
    clip = read_clips([WALK])[0]
    positions = torch.from_numpy(clip.positions)
    # Skate: every joint of each leg drifts 0.4 m/s forward-left while its toe is low, as a
    # sampled stance foot that follows the body does.
    slid = positions.clone()
    for leg in legs(clip.skeleton):
        low = (positions[:, leg.toe, 2] < 0.06).double()
        drift = torch.cumsum(low, 0)[:, None] * torch.tensor([0.4, 0.2]) / clip.fps
        for joint in (leg.knee, leg.ankle, leg.toe):
            slid[:, joint, :2] += drift.float()
        slid[:, leg.hip, :2] += drift.float()
    lock = FootLock(clip.skeleton, clip.fps)
    locked = torch.cat([lock(slid[i : i + 5]) for i in range(0, len(slid), 5)])
    before = motion_metrics(slid.numpy(), clip.fps, clip.skeleton)["foot_skating_m_s"]
    after = motion_metrics(locked.numpy(), clip.fps, clip.skeleton)["foot_skating_m_s"]
    real = motion_metrics(clip.positions, clip.fps, clip.skeleton)["foot_skating_m_s"]
    assert before > 0.3 and after < real + 0.05, (before, after, real)
    for leg in legs(clip.skeleton):  # the legs keep their lengths
        for joint, parent in ((leg.knee, leg.hip), (leg.ankle, leg.knee)):
            length = (locked[:, joint] - locked[:, parent]).norm(dim=-1)
            original = (slid[:, joint] - slid[:, parent]).norm(dim=-1)
            assert torch.allclose(length, original, atol=1e-4)
    moved = {joint for leg in legs(clip.skeleton) for joint in (leg.knee, leg.ankle, leg.toe)}
    untouched = [joint for joint in range(positions.shape[1]) if joint not in moved]
    assert torch.equal(locked[:, untouched], slid[:, untouched])
    assert np.isfinite(locked.numpy()).all()
