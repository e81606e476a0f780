"""Motion matching on the shipped real clips: the database, its search, the springs, the controller
in the playback loop, `motion train matching` / `motion generate --model mm.pt`; and the take
figures beside it (the real start, the worst window, the floor, naturalness)."""

import numpy as np
import pytest
import torch

from cli.generate import main as generate_main
from cli.train import main as train_main
from evaluation.naturalness import Naturalness
from evaluation.takes import held_out_clips
from motion.assets import DRMM_MODEL, LOCOMOTION_CLIPS
from motion.checkpoint import load_checkpoint
from motion.encoding import character_frame
from motion.formats import read_clips
from motion.geometry import to_local_frame
from motion.models import DRMM, MotionMatching, load_model
from motion.skeleton import load_preset, preset_roles
from playback.contacts import above_floor, legs
from playback.flags import COURSE, parse_flags
from playback.loop import Playback, PlaybackConfig, _start_clip
from playback.matching import MatchingController, spring_angles, spring_positions
from playback.metrics import motion_metrics, worst_window

LOCOMOTION = ("walk", "walk-turn-left", "walk-turn-right", "run")


@pytest.fixture(scope="module")
def database(tmp_path_factory):
    path = tmp_path_factory.mktemp("matching") / "mm.pt"
    assert (
        train_main(
            ["matching", "--data", str(LOCOMOTION_CLIPS), "--out", str(path), "--contents", ",".join(LOCOMOTION)]
        )
        == 0
    )
    return path


def test_the_database_holds_the_train_clips_and_finds_its_own_frames(database):
    payload = load_checkpoint(database, "matching")  # weights_only loading
    model = load_model(database, kinds=("matching",))
    assert isinstance(model, MotionMatching) and payload["recipe"]["train_splits"] == ["train"]
    unseen = [held_out_clips([LOCOMOTION_CLIPS], LOCOMOTION, "laforge20", 30.0, split) for split in ("test", "val")]
    assert payload["data"]["clips"] == 60 - sum(map(len, unseen))  # the test and val clips stay out
    playable = torch.nonzero(model.playable).squeeze(1)
    assert len(playable) > 3000 and torch.isfinite(model.features[playable]).all()
    assert not model.playable[model.clip_end[0] - 1]  # a clip's last frames have no future trajectory
    for frame in playable[[0, 1000, -1]].tolist():
        found, cost = model.search(model.features[frame])
        assert found == frame and cost == 0.0
    # The facing-unspecified mode leaves the directions out: a query with the facings turned still matches.
    query = model.features[playable[500]].clone()
    directions = model.group_slice("trajectory_directions")
    query[directions] = -query[directions]
    mask = torch.ones_like(query, dtype=torch.bool)
    mask[directions] = False
    assert model.search(query, mask)[0] == int(playable[500]) and model.search(query)[0] != int(playable[500])


def test_springs_approach_the_desired_velocity_and_facing():
    times = torch.linspace(0, 3, 301, dtype=torch.float64)
    desired = torch.tensor([1.4, 0.0], dtype=torch.float64)
    still = spring_positions(torch.zeros(2, dtype=torch.float64), desired, times, 0.27)
    # Critically damped from rest: v(t) = d (1 - (1 + yt) e^(-yt)), y = 2 ln 2 / half-life.
    y = 2 * np.log(2) / 0.27
    expected = 1.4 * (1 - (1 + y * times) * torch.exp(-y * times))
    velocity = torch.gradient(still[:, 0], spacing=(times,), edge_order=2)[0]
    assert torch.allclose(velocity, expected, atol=2e-3) and still[0].abs().max() == 0
    half = int(torch.searchsorted(times, torch.tensor(0.27, dtype=torch.float64)))
    assert 0.1 < float(velocity[half]) / 1.4 < 0.5  # a quarter of the way at one half-life, from rest
    steady = spring_positions(desired, desired, times, 0.27)
    assert torch.allclose(steady[:, 0], 1.4 * times, atol=1e-9)  # at the desired velocity it just carries on
    turning = spring_angles(3.0, -3.0, times, 0.27)  # the shorter way round: through pi, not through 0
    assert float(turning[0]) == 3.0 and (torch.diff(turning) > -1e-9).all()
    assert abs(float(turning[-1]) - (2 * np.pi - 3.0)) < 1e-3


def test_a_query_of_a_recorded_state_has_the_recorded_pose_features(database):
    model = load_model(database, kinds=("matching",))
    skeleton = model.metadata.skeleton
    controller = MatchingController(model, skeleton, 30.0, 5, facing=True, blend_frames=10.0)
    frame = int(torch.nonzero(model.playable)[100])
    query = controller.query(model.positions[frame - 2 : frame + 1], np.array([5.0, 5.0]))
    pose = slice(model.group_slice("foot_positions").start, None)
    torch.testing.assert_close(query[pose], model.features[frame, pose])
    trajectory = model.group_slice("trajectory_positions")
    assert torch.isfinite(query[trajectory]).all()
    with pytest.raises(ValueError, match="2 to 20 frames per call"):
        MatchingController(model, skeleton, 30.0, 30, facing=True, blend_frames=10.0)


def test_matching_plays_real_frames_to_the_flags(database, tmp_path, capsys):
    model = load_model(database, kinds=("matching",))
    player = Playback(model, PlaybackConfig(), seed=0)
    take = player.run(30.0, parse_flags(COURSE))
    figures = player.figures(take)
    assert figures["flags_per_minute"] >= 10 and figures["facing_error_deg"] < 20
    assert figures["floor_penetration"] == 0 and figures["bone_length_cv_percent"] < 0.5
    searches = [d for d in take.decisions if d["searched"]]
    jumps = [d for d in take.decisions if d["jumped"]]
    assert len(searches) >= len(take.decisions) // 2 - 1 and 0 < len(jumps) < len(searches)
    # Between jumps it plays the database on: one frame after another.
    on = [(a, b) for a, b in zip(take.decisions, take.decisions[1:], strict=False) if not b["jumped"]]
    assert all(b["database_frame"] == a["database_frame"] + 5 for a, b in on)
    speed = np.linalg.norm(np.diff(take.positions, axis=0), axis=-1) * take.fps
    assert np.percentile(speed, 99) < 10
    with pytest.raises(ValueError, match="motion matching plays recorded frames"):
        Playback(model, PlaybackConfig(max_head_height=(1.3, 1.3)))
    out = tmp_path / "mm.csv"
    command = ["--model", str(database), "--seconds", "4", "--no-video", "--out", str(tmp_path / "mm.mp4")]
    assert generate_main([*command, "--positions", str(out)]) == 0
    assert read_clips(out)[0].frames == 120 and "flags reached" in capsys.readouterr().out
    assert generate_main(["--model", str(database), "--max-head-height", "1.3", "--out", str(tmp_path / "x.mp4")]) == 2
    assert "motion matching plays recorded frames" in capsys.readouterr().err


def test_takes_start_from_a_real_state_and_their_first_seconds_are_smooth():
    player = Playback(DRMM.load(DRMM_MODEL), PlaybackConfig(lock_feet=False), seed=1)
    take = player.run(3.0, parse_flags(COURSE))
    start = take.positions[: player.history_frames]
    recorded = player.start_frames(_start_clip())  # the shipped walk, moved to stand at the origin facing +x
    origin, facing = character_frame(torch.from_numpy(recorded[-1]), player.roles)
    moved = to_local_frame(torch.from_numpy(recorded).reshape(1, -1, 3), origin[None], facing[None])
    np.testing.assert_allclose(start, moved.reshape(recorded.shape).numpy(), atol=1e-5)
    origin, facing = character_frame(torch.from_numpy(start[-1]), player.roles)
    assert origin[:2].abs().max() < 1e-5 and torch.allclose(facing, torch.tensor([1.0, 0.0, 0.0]), atol=1e-5)
    figures = motion_metrics(take.positions, take.fps, player.skeleton)
    assert figures["bone_length_cv_percent"] < 0.3 and figures["jerk_m_s3"] < 300, figures


def test_the_worst_window_and_the_floor():
    skeleton = load_preset("laforge20")
    positions = held_out_clips([LOCOMOTION_CLIPS], ("walk",), "laforge20", 30.0)[0].copy()
    whole = motion_metrics(positions, 30.0, skeleton)
    sunk = positions.copy()
    sunk[60:75, :, 2] -= 0.2  # half a second 20 cm under the floor
    worst = worst_window(sunk, 30.0, skeleton)
    assert worst["floor_penetration"] == pytest.approx(15 / 90) and whole["floor_penetration"] == 0
    assert worst["jerk_m_s3"] > motion_metrics(sunk, 30.0, skeleton)["jerk_m_s3"]
    # A toe under the floor is pitched up onto it, the toe bone keeping its length; the rest stays.
    leg = legs(skeleton)[0]
    pose = torch.from_numpy(positions[30])
    dipped = pose.clone()
    dipped[leg.toe, 2] = -0.03
    lifted = above_floor(dipped, leg)
    assert abs(float(lifted[leg.toe, 2])) < 1e-6
    assert torch.isclose((lifted[leg.toe] - lifted[leg.ankle]).norm(), (dipped[leg.toe] - dipped[leg.ankle]).norm())
    assert torch.equal(lifted[: leg.toe], dipped[: leg.toe]) and above_floor(pose, leg) is pose


def test_naturalness_puts_real_motion_near_real_motion_and_a_frozen_pose_far():
    clips = held_out_clips([LOCOMOTION_CLIPS], LOCOMOTION, "laforge20", 30.0, split="val")
    roles = preset_roles("laforge20")
    natural = Naturalness(clips, 30.0, roles)
    real = natural.real_figure(clips)
    test = held_out_clips([LOCOMOTION_CLIPS], LOCOMOTION, "laforge20", 30.0)
    unseen = float(np.median(np.concatenate([natural.distances(clip) for clip in test])))
    frozen = np.repeat(test[0][:1], 90, axis=0)
    assert 0 < real and unseen < 2 * real
    assert float(np.median(natural.distances(frozen))) > 2 * unseen
    assert natural.distances(clips[0], exclude_clip=None).max() < 0.01 * real  # its own windows are in the set


def test_motion_train_matching_refuses_bad_input_in_one_line(database, tmp_path, capsys):
    base = ["matching", "--data", str(LOCOMOTION_CLIPS)]
    assert train_main([*base, "--out", str(database)]) == 2
    assert "exists; pass --overwrite" in capsys.readouterr().err
    assert train_main([*base, "--out", str(tmp_path / "a.pt"), "--splits", "tset"]) == 2
    assert "--splits: expected some of train, val, test" in capsys.readouterr().err
    assert train_main([*base, "--out", str(tmp_path / "b.pt"), "--contents", "dance"]) == 2
    err = capsys.readouterr().err
    assert "no clip of contents dance" in err and len(err.strip().splitlines()) == 1
    assert train_main(["matching", "--data", str(tmp_path / "missing.zip"), "--out", str(tmp_path / "c.pt")]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.pt"))
