import numpy as np
import pytest

from motion.errors import InputError
from motion.formats import ReadOptions, list_sources, read_clips, read_source
from motion.formats.bvh import read_bvh
from motion.skeleton import preset_joint_map
from tests.conftest import BANDAI_ROOT, DATA


def test_translation_channels_replace_offsets_and_rotations_compose():
    clip = read_clips(DATA / "translation_channels.bvh")[0]
    assert clip.skeleton.joints == ("Hips", "Spine", "Arm", "Leg")
    assert clip.fps == 30.0
    # Frame 0: Spine's channels put it 10 cm above the hips (its OFFSET says 5): the channels win.
    expected_0 = [[0, 0, 1.0], [0, 0, 1.1], [0.2, 0, 1.1], [0, 0, 0.05]]
    # Frame 1: the root turns 90 degrees about Y-up, sending the arm's +x offset to -z (Y-up) = +y (Z-up).
    expected_1 = [[0, 0, 1.0], [0, 0, 1.1], [0, 0.2, 1.1], [0, 0, 0.05]]
    np.testing.assert_allclose(clip.positions, [expected_0, expected_1], atol=1e-6)


def test_units_are_detected_from_height_or_forced():
    text = (DATA / "translation_channels.bvh").read_text()
    assert read_bvh(text, "t.bvh", "t").height == pytest.approx(1.05, abs=1e-5)
    assert read_bvh(text, "t.bvh", "t", units="mm").height == pytest.approx(0.105, abs=1e-6)


def test_lafan1_style_file_maps_to_laforge20():
    clip = read_clips(DATA / "lafan1_style.bvh")[0]
    assert clip.skeleton.name == "lafan1" and clip.frames == 45
    laforge = clip.remap(preset_joint_map("lafan1", "laforge20"))
    assert laforge.skeleton.name == "laforge20" and laforge.positions.shape == (45, 20, 3)
    # The root moves 2 cm per frame along +x in both Y-up and Z-up; the toes end 1 cm below the floor (95 - 96 cm).
    np.testing.assert_allclose(np.diff(laforge.positions[:, 0, 0]), 0.02, atol=1e-6)
    assert laforge.positions[:, :, 2].min() == pytest.approx(-0.01, abs=1e-4)


@pytest.mark.parametrize(
    "edit, message",
    [
        (
            lambda t: t.replace("0 100 0 0 0 90 0 10 0 0 0 0 0 0 0 0 0 0", "0 100 0 0 0 90 0 10"),
            ":30: 8 channel values",
        ),
        (lambda t: t.replace("0 100 0 0 0 90", "0 100 0 0 0 abc"), ":30: channel value 6 is 'abc'"),
        (
            lambda t: t.replace("CHANNELS 3 Xrotation Yrotation Zrotation", "CHANNELS 3 Xrotation Yrotation Wrotation"),
            "joint 'Arm': unknown channel 'Wrotation'",
        ),
        (
            lambda t: t.replace("CHANNELS 3 Zrotation Xrotation Yrotation", "CHANNELS 4 Zrotation Xrotation Yrotation"),
            ":23: joint 'Leg' lists 3 channels; CHANNELS says 4",
        ),
        (lambda t: t.replace("Frames: 2", "Frames: 3"), "header says 3 frames but 2 rows follow"),
        (lambda t: t.replace("MOTION", "MOTON"), "no MOTION section"),
    ],
)
def test_broken_bvh_names_line_and_field(tmp_path, edit, message):
    path = tmp_path / "broken.bvh"
    path.write_text(edit((DATA / "translation_channels.bvh").read_text()))
    with pytest.raises(InputError, match="broken.bvh") as err:
        read_clips(path)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_every_real_bandai_clip_reads(bandai_zip):
    """All 2,902 clips of the shared archive: 22 joints, 30 fps, plausible heights, feet on the floor."""
    sources = [s for s in list_sources([bandai_zip]) if s.suffix == ".bvh"]
    assert len(sources) == 2902
    frames = 0
    for source in sources:
        clip = read_source(source, ReadOptions(), labels=False)[0]
        frames += clip.frames
        assert clip.skeleton.name == "bandai22" and clip.fps == 30.0
        assert 1.2 < clip.height < 2.0, source.name
        assert abs(np.median(clip.positions[:, :, 2].min(axis=1))) < 0.1, source.name
    assert frames == 384931


def test_real_walk_moves_the_way_the_character_faces(bandai_zip):
    source = next(
        s for s in list_sources([bandai_zip]) if s.member == BANDAI_ROOT + "data/dataset-2_walk_normal_001.bvh"
    )
    clip = read_source(source)[0].remap(preset_joint_map("bandai22", "laforge20"))
    assert clip.labels == {"content": "walk", "style": "normal"}
    velocity = np.diff(clip.positions[:, 0, :2], axis=0)
    across = clip.positions[:-1, 8, :2] - clip.positions[:-1, 14, :2]  # left minus right shoulder
    facing = np.stack((across[:, 1], -across[:, 0]), 1)
    assert (np.sum(velocity * facing, 1) > 0).mean() > 0.9
