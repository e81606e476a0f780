import math

import torch
from torch.testing import assert_close

from motion.geometry import (
    directions_to_local_frame,
    euler_to_matrix,
    facing_direction,
    forward_kinematics,
    to_local_frame,
    y_up_to_z_up,
)


def test_euler_matrices_are_rotations_composed_in_channel_order():
    gen = torch.Generator().manual_seed(0)
    angles = torch.rand(64, 3, generator=gen, dtype=torch.float64) * 6 - 3
    matrix = euler_to_matrix(angles, "ZXY")
    assert_close(matrix @ matrix.transpose(-1, -2), torch.eye(3, dtype=torch.float64).expand(64, 3, 3))
    assert_close(torch.linalg.det(matrix), torch.ones(64, dtype=torch.float64))
    expected = (
        euler_to_matrix(angles[:, [0, 0, 0]] * torch.tensor([1.0, 0, 0], dtype=torch.float64), "ZXY")
        @ euler_to_matrix(angles[:, [1, 1, 1]] * torch.tensor([0, 1.0, 0], dtype=torch.float64), "ZXY")
        @ euler_to_matrix(angles[:, [2, 2, 2]] * torch.tensor([0, 0, 1.0], dtype=torch.float64), "ZXY")
    )
    assert_close(matrix, expected)


def test_rotation_about_z_by_90_degrees_turns_x_into_y():
    matrix = euler_to_matrix(torch.tensor([math.pi / 2, 0.0, 0.0], dtype=torch.float64), "ZXY")
    assert_close(
        matrix @ torch.tensor([1.0, 0, 0], dtype=torch.float64), torch.tensor([0, 1.0, 0], dtype=torch.float64)
    )


def test_forward_kinematics_of_a_bent_chain():
    local_rot = torch.eye(3, dtype=torch.float64).repeat(3, 1, 1)
    local_rot[1] = euler_to_matrix(torch.tensor([math.pi / 2, 0, 0], dtype=torch.float64), "ZXY")
    local_pos = torch.tensor([[1.0, 2, 3], [1, 0, 0], [1, 0, 0]], dtype=torch.float64)
    world = forward_kinematics(local_rot, local_pos, [-1, 0, 1])
    assert_close(world, torch.tensor([[1.0, 2, 3], [2, 2, 3], [2, 3, 3]], dtype=torch.float64))


def test_y_up_to_z_up_is_a_proper_rotation():
    basis = y_up_to_z_up(torch.eye(3, dtype=torch.float64))
    assert_close(torch.linalg.det(basis), torch.tensor(1.0, dtype=torch.float64))
    assert_close(y_up_to_z_up(torch.tensor([0.0, 1, 0])), torch.tensor([0.0, 0, 1]))


def test_facing_is_forward_when_left_shoulder_is_at_plus_y():
    facing = facing_direction(torch.tensor([0.0, 0.2, 1.4]), torch.tensor([0.0, -0.2, 1.5]))
    assert_close(facing, torch.tensor([1.0, 0, 0]))


def test_local_frame_puts_root_at_origin_facing_plus_x_with_finite_gradients():
    gen = torch.Generator().manual_seed(1)
    points = torch.randn(16, 5, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    angle = torch.rand(16, generator=gen, dtype=torch.float64) * 2 * math.pi
    facing = torch.stack((angle.cos(), angle.sin(), torch.zeros_like(angle)), -1)
    local = to_local_frame(points, points[:, 0], facing)
    assert_close(local[:, 0, :2], torch.zeros(16, 2, dtype=torch.float64))
    assert_close(local[:, 0, 2], points[:, 0, 2])  # heights are kept
    assert_close(
        directions_to_local_frame(facing[:, None], facing)[:, 0],
        torch.tensor([1.0, 0, 0], dtype=torch.float64).expand(16, 3),
    )
    local.sum().backward()
    assert torch.isfinite(points.grad).all()
