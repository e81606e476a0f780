"""Positions to joint rotations and BVH out: accuracy on real clips of every content, continuity,
retargeting onto every preset, and BVH files imputed frame by frame."""

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from cli.export import main as export
from motion.clip import Clip
from motion.errors import InputError
from motion.formats import list_sources, read_clips, read_source
from motion.formats.bvh import bvh_text, channel_values, file_rotations, read_bvh, read_bvh_file
from motion.geometry import euler_to_matrix
from motion.impute import impute_file
from motion.joint_rotations import Animation, positions_to_rotations
from motion.retarget import clip_to_animation, load_rig_map, target_rig
from motion.rig import preset_rig, rig_from_clip
from motion.rotations import rotation_angle
from motion.skeleton import Skeleton, preset_names
from playback.loop import Playback, PlaybackConfig
from tests.conftest import BANDAI_SAMPLES, DATA, SAMPLE_CLIPS

CONTENTS = (
    "walk", "walk-turn-left", "walk-turn-right", "run", "wave-both-hands", "wave-left-hand",
    "wave-right-hand", "raise-up-both-hands", "raise-up-left-hand", "raise-up-right-hand",
)  # fmt: skip
MAX_TURN_DEGREES = 90.0
DRMM = SAMPLE_CLIPS.parent / "models" / "drmm.pt"


@pytest.fixture(scope="module")
def every_content(bandai_zip):
    """(clip, its file's text) for the first clip of each content in style normal."""
    sources = {}
    for source in list_sources([bandai_zip]):
        for content in CONTENTS:
            if f"dataset-2_{content}_normal_" in source.name and content not in sources:
                sources[content] = source
    assert len(sources) == len(CONTENTS)
    return {content: (read_source(s)[0], s.read().decode()) for content, s in sources.items()}


def joint_errors(written: str, clip) -> np.ndarray:
    """(frames, joints) distance, metres, of each joint read back from BVH text to the clip's."""
    back = read_bvh(written, "written.bvh", "written")
    index = [back.skeleton.index(joint) for joint in clip.skeleton.joints]
    return np.linalg.norm(back.positions[:, index] - clip.positions, axis=-1)


def largest_turn(animation: Animation) -> float:
    """Degrees: the most any joint turns (in the world) between consecutive frames."""
    world = animation.world_rotations()
    return float(torch.rad2deg(rotation_angle(world[1:].transpose(-1, -2) @ world[:-1])).max())


def test_written_file_reads_back_to_the_animations_positions():
    clip = read_clips(BANDAI_SAMPLES / "data" / "dataset-2_walk_normal_011.bvh")[0]
    animation = clip_to_animation(clip)
    back = read_bvh(bvh_text(animation), "w.bvh", "w")
    assert back.skeleton.joints == animation.rig.skeleton.joints and back.fps == clip.fps
    np.testing.assert_allclose(back.positions, animation.world_positions(), atol=1e-5)


def test_every_content_is_reproduced_within_5_mm_and_no_bone_turns_90_degrees(every_content):
    for content, (clip, _) in every_content.items():
        animation = clip_to_animation(clip)
        errors = joint_errors(bvh_text(animation), clip)
        assert errors.mean() < 0.005, f"{content}: {errors.mean() * 1000:.2f} mm"
        assert largest_turn(animation) < MAX_TURN_DEGREES, content


def test_like_the_source_bvh_reproduces_it_within_a_tenth_of_a_millimetre(every_content):
    for content, (clip, text) in every_content.items():
        rig = read_bvh_file(text, clip.source, clip.name).rig
        animation = clip_to_animation(clip, rig)
        written = bvh_text(animation)
        assert joint_errors(written, clip).max() < 1e-4, content
        assert largest_turn(animation) < MAX_TURN_DEGREES, content
        assert written.splitlines()[:8] == [line.rstrip() for line in _hierarchy_in_our_digits(text)[:8]]


def _hierarchy_in_our_digits(text: str) -> list[str]:
    """The file's first HIERARCHY lines with OFFSET numbers printed as the writer prints them."""
    lines = []
    for line in text.splitlines():
        head, _, rest = line.partition("OFFSET ")
        lines.append(head + "OFFSET " + " ".join(f"{float(v):.6f}" for v in rest.split()) if rest else line.rstrip())
    return lines


def test_a_generated_take_converts_without_flips():
    playback = Playback.from_checkpoint(DRMM, PlaybackConfig(), seed=3)
    with torch.no_grad():
        take = playback.run(4.0)
    generated = Clip(take.positions, playback.skeleton, take.fps, "generated", "generated")  # laforge20
    animation = clip_to_animation(generated)
    assert largest_turn(animation) < MAX_TURN_DEGREES
    assert joint_errors(bvh_text(animation), generated).mean() < 0.01  # the take's own bone-length variation


def test_the_knee_turns_about_one_hinge_axis():
    # The thigh's twist is taken from the knee's bending plane, so the knee's own rotation keeps one axis.
    clip = read_clips(BANDAI_SAMPLES / "data" / "dataset-2_walk_normal_011.bvh")[0]
    animation = clip_to_animation(clip)
    knee = animation.rig.skeleton.index("LowerLeg_L")
    local = animation.local_rot[:, knee]
    angle = rotation_angle(local)
    axis = torch.stack(
        (local[:, 2, 1] - local[:, 1, 2], local[:, 0, 2] - local[:, 2, 0], local[:, 1, 0] - local[:, 0, 1]), -1
    )
    bent = angle > np.radians(20)
    axis = axis[bent] / axis[bent].norm(dim=-1, keepdim=True)
    assert bent.sum() > 30
    within_25_degrees = axis @ axis.mean(0) / axis.mean(0).norm() > np.cos(np.radians(25))
    assert within_25_degrees.float().mean() > 0.9


@pytest.mark.parametrize("preset", preset_names())
def test_retargeting_keeps_the_targets_proportions_the_directions_and_the_floor(preset):
    clip = read_clips(BANDAI_SAMPLES / "data" / "dataset-2_run_normal_033.bvh")[0]
    rig = preset_rig(preset)
    animation = clip_to_animation(clip, rig)
    world = animation.world_positions()
    parents = rig.skeleton.parents
    for joint, parent in enumerate(parents):
        if parent >= 0:
            lengths = np.linalg.norm(world[:, joint] - world[:, parent], axis=-1)
            np.testing.assert_allclose(lengths, rig.bone_lengths()[joint], atol=1e-4)
    # The left shin points where the source's does.
    names = {"bandai22": ("LowerLeg_L", "Foot_L"), "lafan1": ("LeftLeg", "LeftFoot"),
             "laforge20": ("left_lower_leg", "left_foot"), "smpl22": ("left_knee", "left_ankle")}  # fmt: skip
    knee, ankle = (rig.skeleton.index(n) for n in names[preset])
    ours = world[:, ankle] - world[:, knee]
    theirs = clip.positions[:, clip.skeleton.index("Foot_L")] - clip.positions[:, clip.skeleton.index("LowerLeg_L")]
    cosine = (ours * theirs).sum(-1) / np.linalg.norm(ours, axis=-1) / np.linalg.norm(theirs, axis=-1)
    assert cosine.min() > np.cos(np.radians(1.0))
    toes = [rig.skeleton.index(j) for j in rig.skeleton.joints if "toe" in j.lower() or j.endswith("_foot")]
    assert abs(np.median(world[:, toes, 2].min(axis=1)) - np.median(clip.positions[:, [17, 21], 2].min(axis=1))) < 0.03
    assert largest_turn(animation) < MAX_TURN_DEGREES


def test_joints_the_source_lacks_follow_their_parent():
    laforge = read_clips(SAMPLE_CLIPS / "laforge" / "walk_run_two_takes.csv")[0]
    animation = clip_to_animation(laforge, preset_rig("bandai22"))
    chest = animation.rig.skeleton.index("Chest")
    torch.testing.assert_close(animation.local_rot[:, chest], torch.eye(3).expand(laforge.frames, 3, 3))


def test_a_bvh_with_a_gap_keeps_every_other_frame_and_is_re_solved_in_the_gap(tmp_path):
    path = BANDAI_SAMPLES / "data" / "dataset-2_wave-right-hand_normal_005.bvh"
    given = read_bvh_file(path.read_text(), path.name, path.stem)
    mask = np.zeros((given.clip.frames, len(given.rig.skeleton)), bool)
    hand = given.rig.skeleton.index("Hand_R")
    mask[80:110, hand - 1 : hand + 1] = True  # the right forearm and hand lost for 1 s
    np.save(tmp_path / "mask.npy", mask)
    (result,) = impute_file(path, tmp_path / "filled.bvh", mask=tmp_path / "mask.npy")
    written = read_bvh_file((tmp_path / "filled.bvh").read_text(), "filled.bvh", "filled")
    kept = ~mask.any(axis=1)
    assert [written.rows[i] for i in np.flatnonzero(kept)] == [given.rows[i] for i in np.flatnonzero(kept)]
    assert [written.rows[i] for i in range(80, 110)] != [given.rows[i] for i in range(80, 110)]
    np.testing.assert_allclose(written.clip.positions, result.positions, atol=1e-4)
    # A joint with nothing filled at or below it (the left leg) keeps the file's own rotation in the gap too.
    ankle = given.rig.skeleton.index("Foot_L")
    np.testing.assert_allclose(file_rotations(written)[80:110, ankle], file_rotations(given)[80:110, ankle], atol=1e-5)
    turned = Animation(written.rig, file_rotations(written), torch.zeros(1), written.clip.fps)
    assert largest_turn(turned) < MAX_TURN_DEGREES


def test_rigs_from_files_presets_and_bad_requests():
    like = BANDAI_SAMPLES / "data" / "dataset-2_run_normal_033.bvh"
    assert target_rig(like=like).channels[1][:3] == ("Xposition", "Yposition", "Zposition")
    assert target_rig(skeleton="lafan1", order="XYZ").channels[1] == ("Xrotation", "Yrotation", "Zrotation")
    assert target_rig() is None
    with pytest.raises(InputError, match="--skeleton or --like, not both"):
        target_rig("lafan1", like)
    with pytest.raises(InputError, match="three distinct axes"):
        target_rig("lafan1", order="XXY")
    with pytest.raises(ValueError, match="missing in some frames only"):
        clip = read_clips(like)[0]
        rig = rig_from_clip(clip)
        positions = clip.positions[:, [clip.skeleton.index(j) for j in rig.skeleton.joints]].copy()
        positions[3, 5] = np.nan
        positions_to_rotations(positions, rig, clip.fps)


def test_export_command_writes_bvh_and_refuses_bad_outputs(tmp_path, capsys):
    source = BANDAI_SAMPLES / "data" / "dataset-2_walk_normal_011.bvh"
    assert export([str(source), "--out", str(tmp_path / "walk.bvh"), "--skeleton", "smpl22"]) == 0
    assert read_clips(tmp_path / "walk.bvh")[0].skeleton.name == "smpl22"
    assert export([str(source), "--out", str(tmp_path / "walk.csv")]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [f"error: {tmp_path / 'walk.csv'}: --out must end in .bvh"]
    assert not (tmp_path / "walk.csv").exists()


def test_odd_rigs_read_back_exactly_and_channels_stay_continuous():
    # A rig with a joint that cannot turn, another whose translation channels stretch its bone, a
    # hips pitching through 90 degrees (where Euler angles change branch) and a root 3 m away.
    rig = read_bvh_file((DATA / "lafan1_style.bvh").read_text(), "lafan1_style.bvh", "s").rig
    spine1, spine2 = rig.skeleton.index("Spine1"), rig.skeleton.index("Spine2")
    channels = list(rig.channels)
    channels[spine1] = ()
    channels[spine2] = ("Xposition", "Yposition", "Zposition") + channels[spine2]
    rig = replace(rig, channels=tuple(channels))
    frames = 90
    time = torch.linspace(0, 1, frames)[:, None]
    gen = torch.Generator().manual_seed(0)
    angles = torch.sin(time[:, :, None] * 6 + torch.rand(1, len(rig.skeleton), 3, generator=gen) * 6) * 0.6
    local_rot = euler_to_matrix(angles, "ZXY")
    local_rot[:, 0] = euler_to_matrix(
        torch.cat([torch.zeros(frames, 1), time * 2.6, torch.zeros(frames, 1)], -1), "XYZ"
    )
    local_rot[:, spine1] = torch.eye(3)
    local_pos = torch.from_numpy(rig.offsets).float().expand(frames, -1, -1).clone()
    local_pos[:, 0] = torch.tensor([3.0, 0.0, 1.0])
    local_pos[:, spine2] *= (
        1 + 0.2 * time
    )  # (frames, 3) * (frames, 1): a stretching bone, carried by its translation channels
    source = Animation(rig, local_rot, local_pos, 30.0)
    clip = read_bvh(bvh_text(source), "odd.bvh", "odd")
    again = clip_to_animation(clip, rig)
    assert joint_errors(bvh_text(again), clip).max() < 1e-4
    assert largest_turn(again) < MAX_TURN_DEGREES
    # Near gimbal lock the outer angles move fast, but none jumps to the other branch (+-180) or a turn.
    assert np.abs(np.diff(channel_values(again), axis=0)).max() < 170.0


def test_a_rig_template_without_frames_gives_its_rig():
    text = (DATA / "lafan1_style.bvh").read_text()
    header, _, _ = text.partition("MOTION")
    template = header + "MOTION\nFrames: 0\nFrame Time: 0.0333333\n"
    rig = read_bvh_file(template, "template.bvh", "template").rig
    assert rig.units == "cm" and len(rig.skeleton) == 22


def test_a_rig_of_other_joint_names_takes_a_joint_map(tmp_path):
    # A Mixamo-style rig: LAFAN1's bones under other names, which only a joint map can match.
    lafan1 = preset_rig("lafan1")
    names = tuple("mixamorig:" + joint for joint in lafan1.skeleton.joints)
    rig = replace(lafan1, skeleton=Skeleton("mixamo", names, lafan1.skeleton.parents))
    clip = read_clips(BANDAI_SAMPLES / "data" / "dataset-2_walk_normal_011.bvh")[0]
    with pytest.raises(InputError, match="pass --joint-map"):
        clip_to_animation(clip, rig)
    pairs = {"Hips": "Hips", "LeftUpLeg": "UpperLeg_L", "LeftLeg": "LowerLeg_L", "LeftFoot": "Foot_L",
             "RightUpLeg": "UpperLeg_R", "RightLeg": "LowerLeg_R", "RightFoot": "Foot_R", "Spine": "Spine",
             "Spine2": "Chest", "Neck": "Neck", "Head": "Head", "LeftArm": "UpperArm_L", "RightArm": "UpperArm_R"}  # fmt: skip
    (tmp_path / "map.json").write_text(json.dumps({"joints": {"mixamorig:" + k: v for k, v in pairs.items()}}))
    animation = clip_to_animation(clip, rig, joint_map=load_rig_map(tmp_path / "map.json"))
    world = animation.world_positions()
    knee, ankle = names.index("mixamorig:LeftLeg"), names.index("mixamorig:LeftFoot")
    ours = world[:, ankle] - world[:, knee]
    theirs = clip.positions[:, clip.skeleton.index("Foot_L")] - clip.positions[:, clip.skeleton.index("LowerLeg_L")]
    cosine = (ours * theirs).sum(-1) / np.linalg.norm(ours, axis=-1) / np.linalg.norm(theirs, axis=-1)
    assert cosine.min() > np.cos(np.radians(1.0))
    assert largest_turn(animation) < MAX_TURN_DEGREES
    with pytest.raises(InputError, match="the rig has no joint 'Spine9'"):
        clip_to_animation(clip, rig, joint_map={"Spine9": "Spine"})
