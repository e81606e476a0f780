"""Playback on a small DRMM trained on real locomotion: the loop, goal clipping, flags, metrics,
rendering and the `motion generate` / `motion render` commands."""

import json

import imageio.v2 as imageio
import numpy as np
import pytest
import torch

from cli.generate import main as generate_main
from cli.render import main as render_main
from motion.assets import DRMM_MODEL
from motion.dataset import load_dataset
from motion.encoding import encode_segments
from motion.formats import read_clips
from motion.geometry import from_local_frame
from motion.models import DRMM
from motion.skeleton import load_preset, preset_joint_map
from playback.flags import FlagCourse, parse_flags
from playback.goals import clip_along_direction, clip_box
from playback.loop import Playback, PlaybackConfig, bone_lengths, fit_bone_lengths
from playback.metrics import motion_metrics, steering_metrics
from playback.render import CHARACTER_COLOURS, RenderConfig, Renderer
from preprocessing import PreprocessConfig, preprocess
from tests.conftest import BANDAI_SAMPLES
from training import DataSelection, DRMMTraining, TrainConfig, train_drmm

WALK = BANDAI_SAMPLES / "data" / "dataset-2_walk_normal_011.bvh"


@pytest.fixture(scope="module")
def model_path(segments, tmp_path_factory):
    """A 2-layer, 64-component DRMM trained for 1000 iterations on real locomotion (~5 s)."""
    path = tmp_path_factory.mktemp("drmm") / "drmm.pt"
    schedule = TrainConfig(iterations=1000, batch=128, compile=False)
    train_drmm(segments, path, DRMMTraining(layers=2, components=64, schedule=schedule), DataSelection(val_size=0))
    return path


def playback(model_path, config=PlaybackConfig(), seed=0):
    return Playback(DRMM.load(model_path), config, seed)


def walk_on_laforge20() -> np.ndarray:
    return read_clips(WALK)[0].remap(preset_joint_map("bandai22", "laforge20")).positions


def test_playback_encodes_the_history_exactly_as_preprocessing_encodes_the_segment(tmp_path):
    """A real clip through both paths: its preprocessed rows, and Playback's encoding of the same frames."""
    player = Playback(DRMM.load(DRMM_MODEL), PlaybackConfig(fit_bones=False))
    layout, roles = player.layout, player.roles
    summary = preprocess([WALK], tmp_path, PreprocessConfig(kinds=("segments",)), workers=1, progress=False)
    data = load_dataset(summary.datasets["segments"])
    positions = walk_on_laforge20()
    assert len(data) == len(positions) - layout.window_frames + 1
    for start in (0, 57, len(data) - 1):
        row = data.features[list(data.start).index(start)]
        history = torch.from_numpy(positions[start : start + player.history_frames])
        context, origin, facing = player.context(history)
        np.testing.assert_array_equal(context.numpy(), row[layout.context])  # value for value
        # A flag where the root goes on average over the goal frames is the row's goal root position...
        flag = positions[start + layout.goal_frames[0] : start + layout.goal_frames[1], roles["root"], :2].mean(0)
        np.testing.assert_allclose(player.goal_position(flag, origin, facing), row[layout.goal_root_xy], atol=1e-5)
        # ...and the row's next poses, taken back to the world as playback takes samples, are the clip's.
        local = torch.from_numpy(row[layout.next_poses]).reshape(1, -1, 3)
        world = from_local_frame(local, origin[None], facing[None]).reshape(layout.next_pose_count, -1, 3)
        frames = slice(start + layout.next_frames[0], start + layout.next_frames[1])
        np.testing.assert_allclose(world.numpy(), positions[frames], atol=1e-5)


def test_the_loop_appends_five_frames_per_decision_and_is_deterministic_with_a_seed(model_path):
    take = playback(model_path, seed=3).run(2.0, parse_flags("2,0;2,2"))
    again = playback(model_path, seed=3).run(2.0, parse_flags("2,0;2,2"))
    other = playback(model_path, seed=4).run(2.0, parse_flags("2,0;2,2"))
    assert take.positions.shape == (60, 20, 3) and np.isfinite(take.positions).all()
    assert np.array_equal(take.positions, again.positions)
    assert not np.array_equal(take.positions, other.positions)
    assert len(take.decisions) == (60 - 10) // 5  # 10 bootstrap frames, then 5 per decision
    assert [d["frame"] for d in take.decisions] == list(range(10, 60, 5))
    first = take.decisions[0]
    assert first["flag"] == [2.0, 0.0] and len(first["goal_clipped"]) == 2 and np.isfinite(first["log_likelihood"])
    # Decisions continue the motion: joints move at walking and running speeds, not in jumps.
    speed = np.linalg.norm(np.diff(take.positions, axis=0), axis=-1) * take.fps
    assert np.percentile(speed, 99) < 10, np.percentile(speed, 99)


def test_box_clipping_clips_exactly_what_lies_outside_3_5_sd():
    population = torch.randn(256, 4, generator=torch.Generator().manual_seed(0)) * torch.tensor([0.1, 0.2, 1.0, 2.0])
    mean, sd = population.mean(0), population.std(0)
    requested = torch.tensor([mean[0] + 3.4 * sd[0], mean[1] - 5 * sd[1], mean[2] + 9 * sd[2], mean[3] - 3.4 * sd[3]])
    clipped = clip_box(requested, population, 3.5)
    assert clipped[0] == requested[0] and clipped[3] == requested[3]  # inside: untouched
    assert torch.isclose(clipped[1], mean[1] - 3.5 * sd[1]) and torch.isclose(clipped[2], mean[2] + 3.5 * sd[2])


def test_direction_clipping_keeps_the_direction_and_shortens_to_the_reachable_distance():
    ahead = torch.stack((torch.linspace(0.5, 1.5, 101), torch.zeros(101)), 1)  # goals 0.5-1.5 m ahead
    far = clip_along_direction(torch.tensor([4.0, 3.0]), ahead)
    assert torch.allclose(far / far.norm(), torch.tensor([0.8, 0.6]))
    assert torch.isclose(far.norm(), torch.quantile(ahead @ torch.tensor([0.8, 0.6]), 0.9))
    near = torch.tensor([0.3, 0.1])
    assert torch.equal(clip_along_direction(near, ahead), near)  # a reachable flag is kept as is
    behind = clip_along_direction(torch.tensor([-3.0, 0.0]), ahead)
    assert torch.allclose(behind, torch.tensor([-0.25, 0.0]))  # turn back: a short goal behind


def test_a_flag_respawns_once_reached():
    course = FlagCourse(None, arena=4.0, reach=1.0, rng=np.random.default_rng(0))
    course.update(np.zeros(2))
    first = course.flag.copy()
    assert np.abs(first).max() <= 4 and np.linalg.norm(first) > 1
    assert not course.update(first + [1.5, 0.0]) and np.array_equal(course.flag, first)
    assert course.update(first + [0.5, 0.5]) and course.reached == 1
    assert not np.array_equal(course.flag, first) and np.linalg.norm(course.flag - first - [0.5, 0.5]) > 1
    scripted = FlagCourse(parse_flags("3,0;0,3"), 4.0, 1.0, np.random.default_rng(0))
    scripted.update(np.zeros(2))
    for expected in ([0, 3], [3, 0], [0, 3]):
        assert scripted.update(scripted.flag.copy()) and np.array_equal(scripted.flag, expected)


def test_motion_metrics_of_a_real_pose_held_and_slid():
    clip = read_clips([WALK])[0]
    from motion.skeleton import resolve_joint_map

    clip = clip.remap(resolve_joint_map(clip.skeleton, "laforge20", None, clip.source))
    skeleton = clip.skeleton
    pose = clip.positions[0].copy()
    pose[..., 2] -= pose[..., 2].min()  # lowest joint on the floor, so a toe is in contact
    held = np.repeat(pose[None], 30, 0)
    figures = motion_metrics(held, 30.0, skeleton)
    assert figures["foot_skating_m_s"] == 0 and figures["jerk_m_s3"] == 0 and figures["floor_penetration"] == 0
    slid = held + (np.arange(30)[:, None, None] / 30.0) * np.array([1.0, 0.0, 0.0], np.float32)  # 1 m/s
    figures = motion_metrics(slid, 30.0, skeleton)
    assert figures["foot_skating_m_s"] == pytest.approx(1.0, rel=1e-3)
    assert figures["jerk_m_s3"] < 1e-2 and figures["bone_length_cv_percent"] < 1e-3
    sunk = held - np.array([0, 0, 0.05], np.float32)
    assert motion_metrics(sunk, 30.0, skeleton)["floor_penetration"] == 1.0
    real = motion_metrics(clip.positions, clip.fps, skeleton)
    assert real["bone_length_cv_percent"] < 0.1 and real["foot_skating_m_s"] < 0.3


def test_steering_metrics_of_a_real_pose_carried_to_a_flag():
    """A real pose, turned to face +x, slid 3 m along x in 3 s toward a flag 3 m ahead: it comes
    within the 1 m reach at 2 m, at frame 60, facing the flag exactly; turned to face +y, it is 90° off."""
    from motion.encoding import character_frame
    from motion.geometry import to_local_frame
    from motion.skeleton import preset_roles

    roles = preset_roles("laforge20")
    pose = torch.from_numpy(walk_on_laforge20()[0])
    origin, facing = character_frame(pose, roles)
    pose = to_local_frame(pose[None], origin[None], facing[None])[0].numpy()
    path = np.stack([np.linspace(0, 3, 91)[:90], np.zeros(90), np.zeros(90)], 1).astype(np.float32)
    take = pose[None] + path[:, None]
    flags = np.tile([3.0, 0.0], (90, 1))
    figures = steering_metrics(take, flags, [60], 30.0, roles)
    assert figures["flags_per_minute"] == pytest.approx(20.0)  # one flag in 3 s
    assert figures["mean_seconds_to_flag"] == pytest.approx(2.0)
    assert figures["facing_error_deg"] == pytest.approx(0.0, abs=1e-3)
    sideways = pose @ np.array([[0, 1, 0], [-1, 0, 0], [0, 0, 1]], np.float32)  # turned 90° to the left
    figures = steering_metrics(sideways[None] + path[:, None], flags, [60], 30.0, roles)
    assert figures["facing_error_deg"] == pytest.approx(90.0, abs=1e-3)
    assert np.isnan(steering_metrics(take, flags, [], 30.0, roles)["mean_seconds_to_flag"])


def test_fitting_bones_restores_their_lengths_and_keeps_their_directions():
    skeleton = load_preset("laforge20")
    pose = torch.from_numpy(read_clips([WALK])[0].positions[:2, :20].copy())  # any 20 points will do
    lengths = torch.linspace(0.1, 0.5, 20)
    fitted = fit_bone_lengths(pose, skeleton.parents, lengths)
    roots = torch.tensor(skeleton.parents) < 0
    assert torch.allclose(bone_lengths(fitted, skeleton.parents)[:, ~roots], lengths[~roots].expand(2, -1), atol=1e-5)
    assert torch.equal(fitted[:, roots], pose[:, roots])


def test_motion_render_writes_an_mp4_that_shows_the_character(tmp_path, capsys):
    out = tmp_path / "walk.mp4"
    assert render_main([str(WALK), "--out", str(out), "--size", "320x192", "--stills", str(tmp_path / "png")]) == 0
    clip = read_clips([WALK])[0]
    frames = int(np.floor((clip.frames - 1) / clip.fps * 30 + 1e-9)) + 1  # resampled to 30 fps
    reader = imageio.get_reader(out)
    assert reader.count_frames() == frames and reader.get_meta_data()["fps"] == 30
    assert len(list((tmp_path / "png").glob("frame_*.png"))) == frames
    image = reader.get_data(frames // 2).astype(np.float32) / 255
    assert image.std() > 0.05  # not blank

    # Where the renderer's camera projects the hips, the video shows the character's orange.
    from motion.clip import resample

    positions = torch.from_numpy(resample(clip.positions, clip.fps, 30.0))
    renderer = Renderer(clip.skeleton, RenderConfig(width=320, height=192))
    camera = renderer.cameras(positions)[frames // 2]
    (column, row), _ = camera.project(positions[frames // 2, renderer.root])
    pixel = image[int(row), int(column)]
    nearest = min(
        np.abs(pixel - np.array(colour) * shade).sum() for colour in CHARACTER_COLOURS for shade in (0.4, 0.7, 1)
    )
    assert pixel[0] > pixel[2] + 0.2 and nearest < 0.25, pixel
    assert "wrote" in capsys.readouterr().out


def test_motion_generate_writes_video_positions_and_logs_with_a_ceiling_schedule(model_path, tmp_path, capsys):
    out, positions, log = tmp_path / "take.gif", tmp_path / "take.csv", tmp_path / "take.json"
    args = ["--model", str(model_path), "--seconds", "2", "--seed", "1", "--size", "96x64", "--no-facing"]
    assert generate_main([*args, "--out", str(out), "--positions", str(positions), "--log", str(log)]) == 0
    assert len(imageio.mimread(out)) == 60
    take = read_clips([positions])[0]
    assert take.positions.shape == (60, 20, 3)
    record = json.loads(log.read_text())
    assert record["config"]["facing"] is False and len(record["decisions"]) == 10
    assert {d["ceiling"] for d in record["decisions"]} == {None}
    assert {"flags_per_minute", "foot_skating_m_s", "jerk_m_s3", "decision_ms"} <= set(record["metrics"])

    low = [*args, "--out", str(out), "--no-video", "--log", str(log), "--max-head-height", "1.7:1.2"]
    assert generate_main(low) == 0
    ceilings = [d["ceiling"] for d in json.loads(log.read_text())["decisions"]]
    frames = np.arange(10, 60, 5)
    assert np.allclose(ceilings, 1.7 - 0.5 * frames / 60), ceilings  # linear over the take


def test_the_ceiling_bounds_the_head_of_every_next_pose_and_the_goal_head_height(model_path):
    player = playback(model_path, PlaybackConfig(ceiling_weight=7.0))
    context, _, _ = player.context(player.bootstrap())
    assert player.condition(context).box_max is None
    condition = player.condition(context, ceiling=1.25)
    box_max, box_weight = condition.box_max.numpy(), condition.box_weight.numpy()
    bounded = np.flatnonzero(np.isfinite(box_max))
    assert (box_max[bounded] == 1.25).all() and (box_weight[bounded] == 7.0).all()
    # The bounded variables of a real segment are the head's heights in its next frames and their
    # mean over the goal frames (normalising keeps heights).
    layout, head = player.layout, player.roles["head"]
    positions = walk_on_laforge20()
    features, starts = encode_segments(positions, layout, player.roles)
    row, start = features[60], starts[60]
    heights = positions[start + 10 : start + 15, head, 2].tolist() + [
        positions[start + 10 : start + 40, head, 2].mean()
    ]
    np.testing.assert_allclose(row[bounded], heights, atol=1e-5)


def test_bad_input_is_one_line_and_exit_2(model_path, tmp_path, capsys):
    base = ["--model", str(model_path), "--out", str(tmp_path / "x.mp4")]
    assert generate_main([*base, "--flags", "3,0;x"]) == 2
    assert capsys.readouterr().err.strip() == "error: --flags: entry 2 'x' is not 'x,y' in metres"
    assert generate_main([*base, "--max-head-height", "tall"]) == 2
    assert "--max-head-height" in capsys.readouterr().err
    assert generate_main(["--model", str(tmp_path / "none.pt"), "--out", str(tmp_path / "x.avi")]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert render_main([str(WALK), "--out", str(tmp_path / "x.mp4"), "--size", "big"]) == 2
    assert "--size" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.mp4"))
