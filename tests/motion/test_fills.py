"""The classical gap fills (motion.fills): exact on trajectories they can represent, observed values
kept, the kinematic fill keeping a real clip's bone lengths where it fills whole joints, and the donor
fill finding a lost joint's motion in the clip's other strides."""

import math
from dataclasses import replace

import numpy as np

from motion.fills import DONOR_SECONDS, FILLS, donor_fill, kinematic_fill, linear_fill, rigid_bone_lengths, spline_fill
from motion.formats import read_clips
from motion.gaps import gap_lengths, short_gaps
from motion.impute import compose_fill, fill_clip
from tests.conftest import BANDAI_SAMPLES

WALK = BANDAI_SAMPLES / "data" / "dataset-2_walk_normal_011.bvh"


def trajectory(values: np.ndarray) -> np.ndarray:
    """(frames,) values as one joint's x over frames, y and z zero: (frames, 1, 3)."""
    return np.stack([values, np.zeros_like(values), np.zeros_like(values)], -1)[:, None].astype(np.float32)


def test_linear_and_spline_fills_are_exact_where_their_curves_are_the_motion():
    time = np.arange(20, dtype=np.float32)
    missing = np.zeros((20, 1, 3), bool)
    missing[5:12, 0, 0] = True
    line, cubic = trajectory(0.1 * time + 1), trajectory(0.001 * (time - 4) ** 3 - 0.02 * time)
    np.testing.assert_allclose(linear_fill(line, missing), line, atol=1e-6)
    np.testing.assert_allclose(spline_fill(cubic, missing), cubic, atol=1e-5)
    assert np.abs(linear_fill(cubic, missing) - cubic).max() > 0.01  # a line cannot follow the cubic
    ends = np.zeros((20, 1, 3), bool)
    ends[:3, 0, 0] = ends[-4:, 0, 0] = True  # beyond the observed frames, the nearest one is held
    for fill in (linear_fill, spline_fill):
        held = fill(cubic, ends)[:, 0, 0]
        assert (held[:3] == cubic[3, 0, 0]).all() and (held[-4:] == cubic[-5, 0, 0]).all()


def test_every_fill_keeps_the_observed_values_and_fills_every_missing_one():
    clip = read_clips(WALK)[0]
    missing = np.random.default_rng(0).random(clip.positions.shape) < 0.1
    gappy = np.where(missing, np.nan, clip.positions)
    for filled in (
        linear_fill(gappy, missing),
        spline_fill(gappy, missing),
        kinematic_fill(gappy, missing, clip.skeleton, clip.fps),
        donor_fill(gappy, missing, clip.skeleton, clip.fps),
    ):
        np.testing.assert_array_equal(filled[~missing], clip.positions[~missing])
        assert np.isfinite(filled).all()


def test_the_kinematic_fill_keeps_the_clips_bones_and_bends_the_knee_as_the_walk_does():
    clip = read_clips(WALK)[0]
    skeleton, positions = clip.skeleton, clip.positions
    hip, knee, ankle = (skeleton.index(name) for name in ("UpperLeg_L", "LowerLeg_L", "Foot_L"))
    lengths = rigid_bone_lengths(positions, np.ones(positions.shape[:2], bool), skeleton.parents)
    assert np.isnan(lengths[skeleton.index("Hips")])  # joint_Root, on the floor, is no rigid bone's end
    assert 0.3 < lengths[knee] < 0.6 and 0.3 < lengths[ankle] < 0.6  # thigh and shin, metres
    missing = np.zeros(positions.shape, bool)
    missing[100:130, [knee, ankle]] = True  # knee and ankle lost for a second, mid-stride
    missing[100:130, skeleton.index("Hand_R"), 2] = True  # and one coordinate of a hand
    filled = kinematic_fill(np.where(missing, np.nan, positions), missing, skeleton, clip.fps)
    for joint, parent in ((knee, hip), (ankle, knee)):
        bone = np.linalg.norm(filled[100:130, joint] - filled[100:130, parent], axis=-1)
        np.testing.assert_allclose(bone, lengths[joint], atol=1e-4)
    spline = spline_fill(positions, missing)

    def error(estimate):
        return np.sqrt(((estimate - positions)[missing] ** 2).mean())

    assert error(filled) < 0.7 * error(spline), (error(filled), error(spline))
    hand = skeleton.index("Hand_R")
    np.testing.assert_array_equal(filled[100:130, hand, :2], positions[100:130, hand, :2])  # observed x, y kept


def test_the_donor_fill_finds_a_lost_legs_stride_elsewhere_in_the_walk_and_keeps_its_bones():
    clip = read_clips(WALK)[0]
    skeleton, positions = clip.skeleton, clip.positions
    leg = [skeleton.index(name) for name in ("LowerLeg_L", "Foot_L", "Toes_L")]
    missing = np.zeros(positions.shape, bool)
    missing[100:130, leg] = True  # the lower leg lost for a second, mid-stride
    gappy = np.where(missing, np.nan, positions)
    donor = donor_fill(gappy, missing, skeleton, clip.fps)
    kinematic = kinematic_fill(gappy, missing, skeleton, clip.fps)

    def error(estimate):
        return np.sqrt(((estimate - positions)[missing] ** 2).mean())

    assert error(donor) < 0.5 * error(kinematic), (error(donor), error(kinematic))
    lengths = rigid_bone_lengths(positions, ~missing.any(-1), skeleton.parents)
    for joint in leg:
        bone = np.linalg.norm(donor[100:130, joint] - donor[100:130, skeleton.parents[joint]], axis=-1)
        np.testing.assert_allclose(bone, lengths[joint], atol=1e-4)
    # Without a preset's roles the search has no facing, yet still finds the stride in a straight walk.
    renamed = replace(skeleton, name="my-rig")
    assert error(donor_fill(gappy, missing, renamed, clip.fps)) < 0.7 * error(kinematic)
    # A short gap, or one with no other span that shows the joint, keeps the kinematic fill.
    short = np.zeros_like(missing)
    short[100 : 100 + int(DONOR_SECONDS * clip.fps), leg] = True
    np.testing.assert_array_equal(
        donor_fill(np.where(short, np.nan, positions), short, skeleton, clip.fps),
        kinematic_fill(np.where(short, np.nan, positions), short, skeleton, clip.fps),
    )
    most = np.zeros_like(missing)
    most[5:-5, leg] = True
    np.testing.assert_array_equal(
        donor_fill(np.where(most, np.nan, positions), most, skeleton, clip.fps),
        kinematic_fill(np.where(most, np.nan, positions), most, skeleton, clip.fps),
    )


def test_gaps_are_measured_in_whole_frames():
    missing = np.zeros((20, 2), bool)
    missing[3:11, 0] = missing[15:17, 0] = True
    missing[:, 1] = True
    lengths = gap_lengths(missing)
    assert lengths[5, 0] == 8 and lengths[16, 0] == 2 and lengths[0, 0] == 0 and (lengths[:, 1] == 20).all()
    short = short_gaps(missing, 0.25, 30.0)  # 7.5 frames round to 8: the 8-frame gap is short
    assert short[3:11, 0].all() and short[15:17, 0].all() and not short[:, 1].any()
    assert (short_gaps(missing, math.inf, 30.0) == missing).all()


def test_a_fill_never_reads_the_missing_values_and_leaves_what_it_cannot_reach_empty():
    clip = read_clips(WALK)[0]
    knee, toes = clip.skeleton.index("LowerLeg_L"), clip.skeleton.index("Toes_R")
    missing = np.zeros(clip.positions.shape, bool)
    missing[100:130, knee] = True
    missing[:, toes, 2] = True  # a coordinate never observed
    for method in FILLS:
        holes = fill_clip(replace(clip, positions=np.where(missing, np.nan, clip.positions)), missing, method)
        wrong = fill_clip(
            replace(clip, positions=np.where(missing, clip.positions + 1.0, clip.positions)), missing, method
        )
        np.testing.assert_array_equal(holes.positions, wrong.positions)  # the truth under the mask is never read
        assert np.isnan(holes.positions[:, toes, 2]).all() and holes.uncovered == clip.frames
        assert holes.filled.sum() == 30 * 3 and np.isfinite(holes.positions[100:130, knee]).all()


def test_composing_smooths_the_learned_fills_departure_and_keeps_short_gaps_and_observed_values():
    clip = read_clips(WALK)[0]
    hand = clip.skeleton.index("Hand_L")
    missing = np.zeros(clip.positions.shape, bool)
    missing[60:105, hand] = True  # 1.5 s: the learned fill's
    missing[120:125, hand] = True  # 5 frames: the classical fill's
    gappy = np.where(missing, np.nan, clip.positions)
    classical = kinematic_fill(gappy, missing, clip.skeleton, clip.fps)
    jitter = np.random.default_rng(0).normal(0, 0.02, clip.positions.shape).astype(np.float32)
    learned = clip.positions + jitter  # the truth, jittering by 2 cm from frame to frame
    raw, smooth = (
        compose_fill(gappy, missing, clip.skeleton, clip.fps, learned, classical, 0.5, False, seconds)
        for seconds in (0.0, 0.05)
    )
    for filled in (raw, smooth):
        np.testing.assert_array_equal(filled[~missing], clip.positions[~missing])
        np.testing.assert_array_equal(filled[120:125, hand], classical[120:125, hand])
    np.testing.assert_allclose(raw[60:105, hand], learned[60:105, hand], atol=1e-6)
    errors = [np.sqrt(((filled - clip.positions)[60:105, hand] ** 2).mean()) for filled in (raw, smooth)]
    assert errors[1] < 0.6 * errors[0], errors  # the jitter averages out (seeded: 0.54x); the stride stays
