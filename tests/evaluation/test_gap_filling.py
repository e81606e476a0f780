"""Gap filling on whole clips (evaluation.gap_filling): the occlusion patterns, and the classical fills
against the shipped HG-VAE on real clips."""

import math
import shutil
from dataclasses import replace

import numpy as np
import pytest
import torch

from evaluation.gap_filling import (
    PATTERNS,
    TOOL_FILLS,
    classical_methods,
    gap_filling_figures,
    limbs,
    model_method,
    pattern_mask,
)
from motion.assets import HGVAE_MODEL
from motion.checkpoint import save_imputation_rule
from motion.fills import FILLS
from motion.formats import read_clips
from motion.impute import fill_clip, impute_clip, probe_mask, probe_weight
from motion.models import HGVAE
from motion.skeleton import load_preset, mirror_joints, preset_joint_map, preset_names


@pytest.fixture(scope="module")
def clips(locomotion_bandai_zip):
    joint_map = preset_joint_map("bandai22", "laforge20")
    return [clip.remap(joint_map) for clip in read_clips(locomotion_bandai_zip)[::12]]


def test_the_limbs_are_the_arms_from_the_shoulder_and_the_legs_from_the_upper_leg():
    skeleton = load_preset("laforge20")
    named = sorted(tuple(skeleton.joints[j] for j in limb) for limb in limbs(skeleton))
    assert named == [
        ("left_shoulder", "left_upper_arm", "left_lower_arm", "left_hand"),
        ("left_upper_leg", "left_lower_leg", "left_foot", "left_toes"),
        ("right_shoulder", "right_upper_arm", "right_lower_arm", "right_hand"),
        ("right_upper_leg", "right_lower_leg", "right_foot", "right_toes"),
    ]


def test_each_pattern_takes_out_what_it_says(clips):
    clip, generator = clips[0], np.random.default_rng(0)
    for pattern in PATTERNS:
        mask = pattern_mask(pattern, clip, generator)
        points = mask.any(-1)
        if pattern.startswith("random"):
            assert abs(mask.mean() - float(pattern.split()[1].rstrip("%")) / 100) < 0.01
            continue
        frames = np.flatnonzero(points.any(1))
        seconds = float(pattern.split()[1])
        assert len(frames) == round(seconds * clip.fps) and np.all(np.diff(frames) == 1)  # one contiguous span
        joints = np.flatnonzero(points.any(0))
        assert (1 <= len(joints) <= 3) if pattern.startswith("joints") else len(joints) in (3, 4)
        assert (mask[frames][:, joints]).all()  # whole joints, every coordinate


def test_every_method_fills_the_same_draws_and_the_ratios_are_to_the_best_classical_fill(clips):
    methods = classical_methods() | {
        "hgvae": model_method(HGVAE.load(HGVAE_MODEL), fallback_seconds=0.75, elbo_floor=-np.inf)
    }
    figures = gap_filling_figures(clips, methods)
    assert list(figures) == list(PATTERNS)
    for row in figures.values():
        best = row["best classical"]
        assert row["ratio"][best] == 1.0 and min(row["ratio"][name] for name in FILLS) == 1.0
        assert row["ratio"]["hgvae"] == pytest.approx(row["hgvae"]["mse_cm2"] / row[best]["mse_cm2"])
        tool = row["best tool fill"]  # the best of the fills mocap tools make, without the donor fill
        assert (
            tool in TOOL_FILLS and min(row["tool ratio"][name] for name in TOOL_FILLS) == row["tool ratio"][tool] == 1.0
        )
    # Where values drop out one by one, every gap is shorter than the fallback: the model's fill is the donor one.
    assert figures["random 5%"]["hgvae"] == pytest.approx(figures["random 5%"]["donor"])
    # A whole joint lost for a second: the kinematic fill keeps the bones and beats the interpolations.
    one_second = figures["joints 1 s"]
    assert one_second["kinematic"]["mse_cm2"] < 0.7 * min(
        one_second["linear"]["mse_cm2"], one_second["spline"]["mse_cm2"]
    )
    # And the donor fill, which finds the lost joint's motion in the clip's other strides, beats that.
    assert one_second["donor"]["mse_cm2"] < 0.8 * one_second["kinematic"]["mse_cm2"]


def test_gaps_within_the_fallback_and_windows_below_the_elbo_floor_keep_the_donor_fill(clips):
    model, clip = HGVAE.load(HGVAE_MODEL), clips[1]
    missing = np.zeros(clip.positions.shape, bool)
    missing[40:55, clip.skeleton.index("left_hand")] = True  # half a second
    gappy = replace(clip, positions=np.where(missing, np.nan, clip.positions).astype(np.float32))
    donor = fill_clip(gappy, missing, "donor")
    within = impute_clip(model, gappy, missing, fallback_seconds=0.5)
    assert within.windows == 0 and np.isnan(within.elbo_after)
    np.testing.assert_array_equal(within.positions, donor.positions)
    beyond = impute_clip(model, gappy, missing, fallback_seconds=0.25, elbo_floor=-np.inf, probe=False)
    assert beyond.windows > 0 and not np.array_equal(beyond.positions, donor.positions)
    np.testing.assert_array_equal(beyond.positions[~missing], clip.positions[~missing])
    distrusted = impute_clip(
        model, gappy, missing, fallback_seconds=0.25, elbo_floor=np.inf, probe=False
    )  # none trusted
    assert distrusted.windows > 0
    np.testing.assert_allclose(distrusted.positions, donor.positions, atol=1e-4)


def test_a_recorded_fallback_rule_travels_in_the_checkpoint_and_is_the_default(clips, tmp_path):
    path = tmp_path / "hgvae.pt"
    shutil.copy(HGVAE_MODEL, path)
    rule = {"fallback_seconds": 0.25, "elbo_floor": math.inf, "fill": "donor", "probe": False}
    save_imputation_rule(path, rule)
    model, shipped = HGVAE.load(path), HGVAE.load(HGVAE_MODEL)
    assert dict(model.metadata.imputation) == rule
    assert model.metadata.labels == shipped.metadata.labels
    for name, weights in shipped.state_dict().items():
        assert torch.equal(model.state_dict()[name], weights), name
    clip = clips[1]
    missing = np.zeros(clip.positions.shape, bool)
    missing[40:55, clip.skeleton.index("left_hand")] = True  # longer than the rule's 0.25 s: the model runs
    gappy = replace(clip, positions=np.where(missing, np.nan, clip.positions).astype(np.float32))
    ruled = impute_clip(model, gappy, missing, probe=False)  # and the rule's floor trusts no window
    assert ruled.windows > 0
    np.testing.assert_allclose(ruled.positions, fill_clip(gappy, missing, "donor").positions, atol=1e-4)
    trusted = impute_clip(model, gappy, missing, elbo_floor=-np.inf, probe=False)
    assert np.abs(trusted.positions - ruled.positions).max() > 1e-3
    # The floor was fitted on donor starts: from the kinematic fill every window is trusted.
    kinematic_start = impute_clip(model, gappy, missing, start="kinematic", probe=False)
    assert kinematic_start.windows > 0 and np.abs(kinematic_start.positions - ruled.positions).max() > 1e-3
    # A rule fitted unprobed does not hold for a probed fill, nor one fitted against another fill (a
    # checkpoint from when the model fell back to the kinematic fill names none): the gap, within the
    # default 0.75 s fallback, keeps the donor fill.
    assert impute_clip(model, gappy, missing).windows == 0
    save_imputation_rule(path, {"fallback_seconds": 0.25, "elbo_floor": math.inf, "probe": False})
    unnamed = impute_clip(HGVAE.load(path), gappy, missing, probe=False)
    assert unnamed.windows == 0
    np.testing.assert_array_equal(unnamed.positions, fill_clip(gappy, missing, "donor").positions)


def test_each_joint_mirrors_its_counterpart_on_every_preset():
    for name in preset_names():
        skeleton = load_preset(name)
        mirror = mirror_joints(skeleton)
        assert all(mirror[mirror[joint]] == joint for joint in range(len(skeleton))), name
        sided = [joint for joint in range(len(skeleton)) if mirror[joint] != joint]
        assert len(sided) == 16, name  # two arms and two legs of four joints each
    laforge = load_preset("laforge20")
    assert laforge.joints[mirror_joints(laforge)[laforge.index("left_hand")]] == "right_hand"


def test_a_probe_hides_each_long_gaps_mirror_where_it_is_observed_and_fits_the_share_that_matches_it(clips):
    skeleton = clips[0].skeleton
    left, right, head = (skeleton.index(name) for name in ("left_hand", "right_hand", "head"))
    hole = np.zeros((100, len(skeleton), 3), bool)
    hole[10:50, left] = True  # long; its mirror is observed throughout
    hole[60:90, head] = True  # long, on the midline: no mirror
    hole[70:72, right] = True  # short: not checked
    long = hole.any(-1)
    long[70:72, right] = False
    probe = probe_mask(hole, long, mirror_joints(skeleton))
    assert np.array_equal(np.flatnonzero(probe.any((1, 2))), np.arange(10, 50))
    assert probe[10:50, right].all() and probe.sum() == 40 * 3
    hole[20, right, 0] = True  # a value of the mirror lost within the gap is not checked against
    partial = probe_mask(hole, long, mirror_joints(skeleton))
    assert partial.sum() == 40 * 3 - 1 and not partial[20, right, 0]
    hole[10:50, right] = True  # the mirror lost over the gap too: nothing to check against
    assert not probe_mask(hole, long, mirror_joints(skeleton)).any()

    generator = np.random.default_rng(0)
    truth, classical, learned = (generator.normal(size=(100, 3)) for _ in range(3))
    mask = np.ones((100, 3), bool)
    assert probe_weight(classical + 0.3 * (learned - classical), classical, learned, mask) == pytest.approx(0.3)
    assert probe_weight(classical + 2 * (learned - classical), classical, learned, mask) == 1.0
    assert probe_weight(classical - (learned - classical), classical, learned, mask) == 0.0
    assert probe_weight(truth, classical, classical, mask) == 0.0


def test_a_probed_fill_keeps_the_share_of_the_models_departure_its_probe_fits(clips):
    model, clip = HGVAE.load(HGVAE_MODEL), clips[1]
    missing = np.zeros(clip.positions.shape, bool)
    missing[20:80, clip.skeleton.index("left_foot")] = True  # 2 s, past the shipped rule's threshold
    gappy = replace(clip, positions=np.where(missing, np.nan, clip.positions).astype(np.float32))
    donor = fill_clip(gappy, missing, "donor").positions
    unprobed = impute_clip(model, gappy, missing, probe=False)
    probed = impute_clip(model, gappy, missing)
    assert unprobed.model_weight == 1.0 and 0.0 < probed.model_weight < 1.0  # some of the way: 0.24
    expected = donor + probed.model_weight * (unprobed.positions - donor)
    np.testing.assert_allclose(probed.positions[missing], expected[missing], atol=1e-5)
    np.testing.assert_array_equal(probed.positions[~missing], clip.positions[~missing])
    # The weight is the share that fits the mirror joint best, with it hidden over the gap's frames too.
    probe = np.zeros_like(missing)
    probe[20:80, clip.skeleton.index("right_foot")] = True
    hidden = replace(clip, positions=np.where(missing | probe, np.nan, clip.positions).astype(np.float32))
    checked = impute_clip(model, hidden, missing | probe, probe=False).positions
    hidden_donor = fill_clip(hidden, missing | probe, "donor").positions
    assert probed.model_weight == pytest.approx(probe_weight(clip.positions, hidden_donor, checked, probe), abs=1e-4)
    # The probe reads only observed values: the truth left in the clip at the missing entries changes nothing.
    assert impute_clip(model, clip, missing).model_weight == probed.model_weight
    # A long gap on the midline has no mirror to check against: the model does not run, the donor fill stays.
    missing[:] = False
    missing[20:80, clip.skeleton.index("head")] = True
    gappy = replace(clip, positions=np.where(missing, np.nan, clip.positions).astype(np.float32))
    midline = impute_clip(model, gappy, missing)
    assert midline.windows == 0 and math.isnan(midline.model_weight)
    np.testing.assert_array_equal(midline.positions, fill_clip(gappy, missing, "donor").positions)
