"""Posing: single-frame poses of real clips, a DRMM trained on them, goals, height bounds, refinement and
the `motion pose` command's outputs (CSV, PNG, BVH read back)."""

import imageio.v3 as iio
import numpy as np
import pandas as pd
import pytest
import torch

from cli.pose import main as pose_command
from motion.dataset import load_dataset
from motion.errors import InputError
from motion.formats.bvh import read_bvh
from motion.models import DRMM
from motion.posing import pose_condition, refine_poses, sample_poses
from motion.skeleton import preset_roles
from preprocessing import PreprocessConfig, preprocess
from training import DataSelection, DRMMTraining, TrainConfig, train_drmm


@pytest.fixture(scope="module")
def poses(locomotion_bandai_zip, tmp_path_factory):
    out = tmp_path_factory.mktemp("poses")
    config = PreprocessConfig(kinds=("poses",), pose_stride=3)
    assert not preprocess([locomotion_bandai_zip], out, config, workers=1, progress=False).failures
    return out / "poses"


@pytest.fixture(scope="module")
def pose_model(poses, tmp_path_factory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    path = tmp_path_factory.mktemp("pose-model") / "drmm-pose.pt"
    schedule = TrainConfig(iterations=900, batch=256, lr=0.002, validate_every=900, checkpoint_every=900)
    train_drmm(poses, path, DRMMTraining(layers=3, components=64, schedule=schedule), DataSelection(val_size=256))
    torch.set_num_threads(threads)
    return path


def test_poses_stand_at_the_origin_facing_x(poses):
    data = load_dataset(poses)
    assert data.metadata["kind"] == "poses" and data.layout.frames == 1
    positions = data.features.reshape(len(data), data.layout.joints, 3)
    roles = preset_roles("laforge20")
    assert np.abs(positions[:, roles["root"], :2]).max() < 1e-5  # root over the origin, heights kept
    across = positions[:, roles["left_shoulder"]] - positions[:, roles["right_shoulder"]]
    assert np.abs(across[:, 0]).max() < 1e-5 and (across[:, 1] > 0).all()  # shoulders along y: facing +x
    assert len(data) > 1000 and set(data.split) == {"train", "val", "test"}


def test_sampled_poses_reach_goals_and_refinement_makes_them_exact(poses, pose_model):
    model = DRMM.load(pose_model)
    test = load_dataset(poses, split="test")
    real = torch.from_numpy(test.features[:20].reshape(20, -1, 3))
    joints = model.metadata.skeleton.joints
    hand, head = joints.index("right_hand"), joints.index("head")
    generator = torch.Generator().manual_seed(0)
    parents = torch.tensor(model.metadata.skeleton.parents)
    child = torch.nonzero(parents >= 0).squeeze(1)

    def bones(positions):
        return (positions[:, child] - positions[:, parents[child]]).norm(dim=-1)

    errors, refined_errors = [], []
    for pose in real:
        goals = {"right_hand": tuple(pose[hand].tolist())}
        sampled = sample_poses(model, goals, samples=64, keep=10, generator=generator)
        errors.append((sampled.positions[:, hand] - pose[hand]).norm(dim=-1).mean())
        refined = refine_poses(sampled, goals)
        refined_errors.append((refined.positions[:, hand] - pose[hand]).norm(dim=-1).max())
        lengths = bones(sampled.positions).median(0).values
        assert (bones(refined.positions) - lengths).abs().max() < 1e-3  # one skeleton: the samples' median bones
    assert torch.stack(errors).mean() < 0.05  # the DRMM's own samples are within centimetres
    assert torch.stack(refined_errors).max() < 1e-3  # refined: under a millimetre
    # A ceiling on the head 5 cm under the free samples' median: the kept samples stay under it.
    free = sample_poses(model, {}, generator=generator)
    low = float(free.positions[:, head, 2].median()) - 0.05
    bounded = sample_poses(model, {}, below={"head": low}, generator=generator)
    assert (bounded.positions[:, head, 2] < low + 0.02).float().mean() >= 0.8


def test_pose_condition_names_bad_joints(pose_model):
    skeleton = DRMM.load(pose_model).metadata.skeleton
    with pytest.raises(InputError, match="unknown joint 'nose'"):
        pose_condition(skeleton, {"nose": (0, 0, 1)})
    condition = pose_condition(skeleton, {"head": (0.0, 0.0, 1.6)}, above={"left_hand": 1.0})
    assert torch.isfinite(condition.values).sum() == 3
    assert condition.inequality_b.tolist() == [-1.0]


def test_motion_pose_writes_csv_png_and_bvh(poses, pose_model, tmp_path, capsys):
    real = load_dataset(poses, split="test").features[0].reshape(-1, 3)  # a reachable target: a real hand
    hand = DRMM.load(pose_model).metadata.skeleton.index("left_hand")
    target = [round(float(value), 3) for value in real[hand]]
    common = ["--model", str(pose_model), "--target", "left_hand=" + ",".join(map(str, target)), "--below", "head=1.9"]
    assert pose_command([*common, "--refine", "--keep", "5", "--out", str(tmp_path / "poses.csv")]) == 0
    table = pd.read_csv(tmp_path / "poses.csv")
    assert 1 <= len(table) <= 5 and list(table["rank"]) == list(range(1, len(table) + 1))
    assert table["log_likelihood"].is_monotonic_decreasing
    assert not table.drop(columns=["rank", "log_likelihood"]).duplicated().any()  # distinct poses only
    reached = table[["left_hand_x", "left_hand_y", "left_hand_z"]].to_numpy() - target
    assert np.linalg.norm(reached, axis=1).max() < 1e-3
    assert pose_command([*common, "--out", str(tmp_path / "poses.png")]) == 0
    image = iio.imread(tmp_path / "poses.png")
    assert image.shape[0] >= 360 and image.shape[1] % 320 == 0 and image.std() > 10
    assert pose_command([*common, "--refine", "--out", str(tmp_path / "poses.bvh")]) == 0
    clip = read_bvh((tmp_path / "poses.bvh").read_text(), "poses.bvh", "poses")
    assert 1 <= clip.frames <= 10
    hand = clip.skeleton.index("left_hand")
    # Within centimetres, not a millimetre: a BVH rig has one rigid shape for the hips' and the chest's
    # children, which the refined poses (one set of bone lengths, not of angles between bones) share
    # only roughly (README, "Posing": up to 2.2 cm with the shipped model).
    assert np.linalg.norm(clip.positions[:, hand] - target, axis=1).max() < 2.5e-2
    capsys.readouterr()
    assert pose_command([*common, "--out", str(tmp_path / "poses.txt")]) == 2
    assert "--out must end in .csv, .png, .bvh" in capsys.readouterr().err
    assert (
        pose_command(["--model", str(pose_model), "--target", "left_hand=1,2", "--out", str(tmp_path / "x.csv")]) == 2
    )
    assert not (tmp_path / "x.csv").exists()
