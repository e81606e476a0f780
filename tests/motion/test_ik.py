"""IK tasks: forward kinematics against hand-computed poses, DLS refinement, and DRMM IK end to end."""

import math

import pytest
import torch

from motion.errors import InputError
from motion.ik import humanoid2d, panda
from motion.ik.refine import refine_panda, rotation_residual
from motion.ik.tasks import DrmmIK, ik_task
from training.ik import IKTraining, train_ik_drmm
from training.trainer import TrainConfig


def test_panda_at_zero_has_its_flange_above_the_base_pointing_down():
    # All joints at 0: x = 0.0825 - 0.0825 + 0.088, z = 0.333 + 0.316 + 0.384 - 0.107, the flange facing down.
    position, rotation = panda.forward_kinematics(torch.zeros(7))
    assert torch.allclose(position, torch.tensor([0.088, 0.0, 0.926]), atol=1e-6)
    assert torch.allclose(rotation, torch.diag(torch.tensor([1.0, -1.0, -1.0])), atol=1e-6)


def test_panda_joints_turn_the_arm_about_their_axes():
    # Joint 1 turns everything about the base's z axis.
    position, _ = panda.forward_kinematics(torch.tensor([math.pi / 2, 0, 0, 0, 0, 0, 0]))
    assert torch.allclose(position, torch.tensor([0.0, 0.088, 0.926]), atol=1e-6)
    # Joint 2 (axis +y at the shoulder, 0.333 m up) tips the arm forward by 90 degrees:
    # (0.088, 0, 0.593) above the shoulder becomes (0.593, 0, -0.088).
    position, rotation = panda.forward_kinematics(torch.tensor([0, math.pi / 2, 0, 0, 0, 0, 0]))
    assert torch.allclose(position, torch.tensor([0.593, 0.0, 0.245]), atol=1e-6)
    assert torch.allclose(rotation[:, 0], torch.tensor([0.0, 0.0, -1.0]), atol=1e-6)  # flange x now points down
    assert torch.allclose(rotation[:, 2], torch.tensor([-1.0, 0.0, 0.0]), atol=1e-6)  # its z points back
    # Joint 7 spins the flange about its own (downward) axis without moving it.
    position, rotation = panda.forward_kinematics(torch.tensor([0, 0, 0, 0, 0, 0, math.pi / 2]))
    assert torch.allclose(position, torch.tensor([0.088, 0.0, 0.926]), atol=1e-6)
    assert torch.allclose(rotation[:, 0], torch.tensor([0.0, -1.0, 0.0]), atol=1e-6)


def test_panda_forward_kinematics_batches_and_keeps_rotations_orthonormal():
    angles = panda.random_configurations(64, torch.Generator().manual_seed(0))
    position, rotation = panda.forward_kinematics(angles.reshape(8, 8, 7))
    assert position.shape == (8, 8, 3) and rotation.shape == (8, 8, 3, 3)
    single, _ = panda.forward_kinematics(angles[9])
    assert torch.allclose(position[1, 1], single, atol=1e-6)
    assert torch.allclose(rotation @ rotation.transpose(-1, -2), torch.eye(3).expand(8, 8, 3, 3), atol=1e-5)
    lower, upper = panda.joint_limits()
    assert ((angles >= lower) & (angles <= upper)).all()


def test_pose_errors_are_distances_and_angles():
    _, rotation = panda.forward_kinematics(torch.zeros(7))
    turned = rotation @ torch.tensor([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # 90 degrees about z
    distance, angle = panda.pose_errors(
        torch.tensor([0.0, 0.0, 0.0]), turned, torch.tensor([0.003, 0.004, 0.0]), rotation
    )
    assert distance.item() == pytest.approx(0.005)
    assert math.degrees(angle.item()) == pytest.approx(90.0, abs=1e-3)
    assert rotation_residual(rotation, rotation).abs().max() < 1e-7


def test_humanoid_standing_straight():
    configuration = torch.zeros(13)
    configuration[1] = 0.5  # root 0.5 m up, every angle 0: arms out, legs down
    observation = dict(zip(humanoid2d.VARIABLES, humanoid2d.observe(configuration).tolist()))
    assert (observation["head_top_x"], observation["head_top_y"]) == pytest.approx((0.0, 1.25))
    assert (observation["r_hand_x"], observation["r_hand_y"]) == pytest.approx((0.75, 1.0))
    assert (observation["l_hand_x"], observation["l_hand_y"]) == pytest.approx((-0.75, 1.0))
    assert (observation["r_foot_x"], observation["r_foot_y"]) == pytest.approx((0.15, -0.2))
    # Bone centres: torso 0.625, chest 0.875, head 1.125, four arm bones 1.0, thighs 0.325, shins -0.025.
    assert observation["com_y"] == pytest.approx((0.625 + 0.875 + 1.125 + 4 + 2 * 0.325 - 2 * 0.025) / 11)
    assert observation["com_x"] == pytest.approx(0.0)


def test_humanoid_angles_turn_counter_clockwise_down_the_chain():
    configuration = torch.zeros(13)
    configuration[1] = 0.5
    configuration[humanoid2d.VARIABLES.index("torso_angle")] = math.pi / 2  # the whole body lies to the left
    observation = humanoid2d.observe(configuration)
    assert observation[humanoid2d.point_slice("head_top")].tolist() == pytest.approx([-0.75, 0.5], abs=1e-6)
    configuration[humanoid2d.VARIABLES.index("torso_angle")] = 0.0
    configuration[humanoid2d.VARIABLES.index("r_forearm_angle")] = -math.pi / 2  # the right forearm hangs down
    observation = humanoid2d.observe(configuration)
    assert observation[humanoid2d.point_slice("r_hand")].tolist() == pytest.approx([0.45, 0.7], abs=1e-6)


def test_humanoid_sides_mirror_each_other():
    low, high = humanoid2d.configuration_limits()
    names = humanoid2d.CONFIGURATION
    for right, left in (("r_forearm_angle", "l_forearm_angle"), ("r_thigh_angle", "l_thigh_angle")):
        assert low[names.index(right)] == -high[names.index(left)]
    configuration = humanoid2d.random_configurations(32, torch.Generator().manual_seed(1))
    configuration[:, :3] = torch.tensor([0.0, 0.7, 0.0])
    mirrored = configuration.clone()
    for right, left in (("r_upper_arm_angle", "l_upper_arm_angle"), ("r_forearm_angle", "l_forearm_angle"),
                        ("r_thigh_angle", "l_thigh_angle"), ("r_shin_angle", "l_shin_angle")):  # fmt: skip
        mirrored[:, names.index(right)] = -configuration[:, names.index(left)]
        mirrored[:, names.index(left)] = -configuration[:, names.index(right)]
    mirrored[:, names.index("chest_angle")] = -configuration[:, names.index("chest_angle")]
    mirrored[:, names.index("head_angle")] = -configuration[:, names.index("head_angle")]
    a, b = humanoid2d.observe(configuration), humanoid2d.observe(mirrored)
    for point in ("r_hand", "r_foot"):
        other = "l" + point[1:]
        flipped = b[:, humanoid2d.point_slice(other)] * torch.tensor([-1.0, 1.0])
        assert torch.allclose(a[:, humanoid2d.point_slice(point)], flipped, atol=1e-5)


def test_damped_least_squares_reaches_targets_from_nearby_starts():
    generator = torch.Generator().manual_seed(2)
    angles = panda.random_configurations(200, generator)
    position, rotation = panda.forward_kinematics(angles)
    lower, upper = panda.joint_limits()
    start = torch.maximum(torch.minimum(angles + 0.05 * torch.randn(angles.shape, generator=generator), upper), lower)
    refined = refine_panda(start, position, rotation)
    assert refined.converged.float().mean() > 0.95
    assert refined.steps[refined.converged].float().mean() < 10
    reached, turned = panda.forward_kinematics(refined.configuration[refined.converged])
    distance, angle = panda.pose_errors(reached, turned, position[refined.converged], rotation[refined.converged])
    assert distance.max() <= 1e-3 and angle.max() <= math.radians(1.0)
    assert ((refined.configuration >= lower - 1e-6) & (refined.configuration <= upper + 1e-6)).all()
    exact = refine_panda(angles[:5], position[:5], rotation[:5])
    assert (exact.steps == 0).all() and exact.converged.all()


def test_unknown_tasks_and_variables_are_named():
    with pytest.raises(InputError, match="known: humanoid2d, panda"):
        ik_task("hexapod")
    with pytest.raises(InputError, match="no variable 'nose_x'"):
        ik_task("humanoid2d").index("nose_x")


@pytest.fixture(scope="module")
def humanoid_solver(tmp_path_factory):
    """A small DRMM trained by the real trainer on the humanoid's random observations."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    path = tmp_path_factory.mktemp("ik") / "humanoid.pt"
    schedule = TrainConfig(iterations=1200, batch=256, lr=0.002, validate_every=1200, checkpoint_every=1200)
    train_ik_drmm(path, IKTraining(layers=4, components=128, observations=50_000, schedule=schedule), device="cpu")
    yield DrmmIK.load(path)
    torch.set_num_threads(threads)


def test_drmm_ik_moves_end_points_toward_goals_and_under_a_ceiling(humanoid_solver):
    generator = torch.Generator().manual_seed(3)
    goals = {"r_hand_x": 0.6, "r_hand_y": 0.9}
    conditioned = humanoid_solver.solve(goals, samples=64, keep=10, generator=generator)
    free = humanoid_solver.solve({}, samples=64, keep=10, generator=generator)
    assert conditioned.observations.shape == (1, 10, 25)
    configuration = conditioned.observations[0, :, :13]
    hand = humanoid2d.observe(configuration)[:, humanoid2d.point_slice("r_hand")]
    free_hand = humanoid2d.observe(free.observations[0, :, :13])[:, humanoid2d.point_slice("r_hand")]
    goal = torch.tensor([0.6, 0.9])
    assert (hand - goal).norm(dim=-1).mean() < 0.5 * (free_hand - goal).norm(dim=-1).mean()
    # A ceiling on the head: the kept samples' heads (by forward kinematics) mostly stay under it.
    ceiling = humanoid_solver.solve({}, below={"head_top_y": 1.0}, samples=64, keep=10, weight=3.0, generator=generator)
    head = humanoid2d.observe(ceiling.observations[0, :, :13])[:, humanoid2d.variable("head_top_y")]
    free_head = humanoid2d.observe(free.observations[0, :, :13])[:, humanoid2d.variable("head_top_y")]
    assert (head < 1.0).float().mean() >= 0.8 > (free_head < 1.0).float().mean()
    assert torch.all(ceiling.log_likelihood[0, :-1] >= ceiling.log_likelihood[0, 1:])  # most likely first


def test_drmm_ik_batches_problems_and_checks_keep(humanoid_solver):
    goals = torch.full((3, 25), float("nan"))
    goals[:, humanoid2d.variable("l_foot_x")] = torch.tensor([-0.3, -0.1, 0.1])
    solutions = humanoid_solver.solve(goals, samples=16, keep=4)
    assert solutions.observations.shape == (3, 4, 25)
    with pytest.raises(InputError, match="keep"):
        humanoid_solver.solve({}, samples=8, keep=9)


def test_rotation_residual_is_the_log_map():
    turn = torch.tensor([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]])  # 180 degrees about x
    almost = turn @ torch.tensor(
        [[1.0, 0.0, 0.0], [0.0, math.cos(0.2), -math.sin(0.2)], [0.0, math.sin(0.2), math.cos(0.2)]]
    )
    residual = rotation_residual(almost, torch.eye(3))  # 180 - 11.5 degrees about x
    assert residual.norm().item() == pytest.approx(math.pi - 0.2, abs=1e-4)
    assert torch.allclose(residual / residual.norm(), torch.tensor([-1.0, 0.0, 0.0]), atol=1e-4)
