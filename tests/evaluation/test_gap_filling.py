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
from motion.impute import fill_clip, impute_clip
from motion.models import HGVAE
from motion.skeleton import load_preset, preset_joint_map


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
    beyond = impute_clip(model, gappy, missing, fallback_seconds=0.25, elbo_floor=-np.inf)
    assert beyond.windows > 0 and not np.array_equal(beyond.positions, donor.positions)
    np.testing.assert_array_equal(beyond.positions[~missing], clip.positions[~missing])
    distrusted = impute_clip(model, gappy, missing, fallback_seconds=0.25, elbo_floor=np.inf)  # no window trusted
    assert distrusted.windows > 0
    np.testing.assert_allclose(distrusted.positions, donor.positions, atol=1e-4)


def test_a_recorded_fallback_rule_travels_in_the_checkpoint_and_is_the_default(clips, tmp_path):
    path = tmp_path / "hgvae.pt"
    shutil.copy(HGVAE_MODEL, path)
    rule = {"fallback_seconds": 0.25, "elbo_floor": math.inf, "fill": "donor"}
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
    ruled = impute_clip(model, gappy, missing)  # and the rule's floor trusts no window
    assert ruled.windows > 0
    np.testing.assert_allclose(ruled.positions, fill_clip(gappy, missing, "donor").positions, atol=1e-4)
    trusted = impute_clip(model, gappy, missing, elbo_floor=-np.inf)
    assert np.abs(trusted.positions - ruled.positions).max() > 1e-3
    # The floor was fitted on donor starts: from the kinematic fill every window is trusted.
    kinematic_start = impute_clip(model, gappy, missing, start="kinematic")
    assert kinematic_start.windows > 0 and np.abs(kinematic_start.positions - ruled.positions).max() > 1e-3
    # A rule fitted against another fill (a checkpoint from when the model fell back to the kinematic
    # fill names none) is ignored: the gap, within the default 0.75 s fallback, keeps the donor fill.
    save_imputation_rule(path, {"fallback_seconds": 0.25, "elbo_floor": math.inf})
    unnamed = impute_clip(HGVAE.load(path), gappy, missing)
    assert unnamed.windows == 0
    np.testing.assert_array_equal(unnamed.positions, fill_clip(gappy, missing, "donor").positions)
