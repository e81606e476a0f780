import math

import pytest
import torch
from torch.testing import assert_close

from motion.geometry import euler_to_matrix
from motion.rotations import (
    axis_angle_to_matrix,
    fit_rotation,
    matrix_to_euler,
    nearest_rotation,
    rotation_angle,
    rotation_between,
)

ORDERS = ("XYZ", "XZY", "YXZ", "YZX", "ZXY", "ZYX")


@pytest.mark.parametrize("order", ORDERS)
def test_euler_angles_read_back_in_every_order_and_at_gimbal_lock(order):
    gen = torch.Generator().manual_seed(0)
    angles = (torch.rand(256, 3, generator=gen, dtype=torch.float64) - 0.5) * torch.tensor([6.2, 3.1, 6.2])
    assert_close(matrix_to_euler(euler_to_matrix(angles, order), order), angles)
    angles[:, 1] = math.pi / 2  # gimbal lock: only the matrix is defined
    matrix = euler_to_matrix(angles, order)
    assert_close(euler_to_matrix(matrix_to_euler(matrix, order), order), matrix)


def test_a_quarter_turn_about_z_reads_as_the_first_zxy_angle():
    quarter = torch.tensor([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    assert_close(matrix_to_euler(quarter, "ZXY"), torch.tensor([math.pi / 2, 0.0, 0.0]))
    assert_close(axis_angle_to_matrix(torch.tensor([0.0, 0.0, 1.0]), torch.tensor(math.pi / 2)), quarter)


def test_rotation_between_turns_x_onto_y_and_handles_opposite_directions():
    x, y = torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 2.0, 0.0])
    assert_close(rotation_between(x, y) @ x, torch.tensor([0.0, 1.0, 0.0]))
    assert_close(rotation_angle(rotation_between(x, y)), torch.tensor(math.pi / 2))
    gen = torch.Generator().manual_seed(1)
    vectors = torch.randn(100, 3, generator=gen)
    units = vectors / vectors.norm(dim=-1, keepdim=True)
    half_turns = rotation_between(vectors, -vectors)
    assert_close((half_turns @ units[..., None])[..., 0], -units, atol=1e-6, rtol=0)
    assert_close(torch.linalg.det(half_turns), torch.ones(100))


def test_fitted_and_nearest_rotations_recover_a_known_rotation():
    gen = torch.Generator().manual_seed(2)
    turn = euler_to_matrix(torch.randn(8, 3, generator=gen), "ZXY")
    source = torch.randn(8, 5, 3, generator=gen)
    target = (turn[:, None] @ source[..., None])[..., 0]
    assert_close(fit_rotation(source, target), turn, atol=1e-5, rtol=0)
    assert_close(nearest_rotation(turn * 0.5), turn, atol=1e-5, rtol=0)
