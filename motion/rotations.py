"""Rotation matrices from and to Euler angles, axis-angle and vector pairs, and rotations fitted to vectors.

Pure torch functions on any leading dimensions, in radians, right-handed; they never modify
their inputs. Euler angles are intrinsic in the order given, as BVH channels define them
(motion.geometry.euler_to_matrix builds the matrices).
"""

from __future__ import annotations

import torch
from torch import Tensor

AXES = "XYZ"


def matrix_to_euler(matrix: Tensor, order: str) -> Tensor:
    """The inverse of motion.geometry.euler_to_matrix.

    Args:
        matrix: (..., 3, 3) rotation matrices.
        order: three distinct axes in channel order, e.g. "ZXY" (R = R_Z(a) @ R_X(b) @ R_Y(c)).
    Returns:
        (..., 3) angles (a, b, c), radians; the middle one in [-pi/2, pi/2]. At gimbal lock
        (|b| = pi/2 to the matrix's precision) only a + c or a - c is defined; c is then 0.
    """
    if len(order) != 3 or set(order) != set(AXES):
        raise ValueError(f"order must be three distinct axes of XYZ, got {order!r}")
    i, j, k = (AXES.index(axis) for axis in order)
    # An even permutation of XYZ (XYZ, YZX, ZXY) puts +sin(b) at [i, k]; an odd one, -sin(b).
    sign = 1.0 if (j - i) % 3 == 1 else -1.0
    sin_b = (sign * matrix[..., i, k]).clamp(-1.0, 1.0)
    b = torch.asin(sin_b)
    a = torch.atan2(-sign * matrix[..., j, k], matrix[..., k, k])
    c = torch.atan2(-sign * matrix[..., i, j], matrix[..., i, i])
    # Only where the matrix's own precision cannot tell the two outer angles apart (a wider margin
    # would misplace a joint at the end of a chain by a millimetre).
    locked = sin_b.abs() > 1.0 - 16 * torch.finfo(matrix.dtype).eps
    if locked.any():
        # Rows j and k of the first rotation still hold a -/+ c once b is +-90 degrees.
        a_locked = torch.atan2(sign * matrix[..., k, j], matrix[..., j, j])
        a = torch.where(locked, a_locked, a)
        c = torch.where(locked, torch.zeros_like(c), c)
    return torch.stack((a, b, c), dim=-1)


def axis_angle_to_matrix(axis: Tensor, angle: Tensor) -> Tensor:
    """Rodrigues' formula.

    Args:
        axis: (..., 3) unit rotation axes.
        angle: (...) radians, counter-clockwise looking down the axis.
    Returns:
        (..., 3, 3) rotation matrices.
    """
    x, y, z = axis.unbind(-1)
    zero = torch.zeros_like(x)
    cross = torch.stack((zero, -z, y, z, zero, -x, -y, x, zero), dim=-1).reshape(axis.shape[:-1] + (3, 3))
    sin, cos = torch.sin(angle)[..., None, None], torch.cos(angle)[..., None, None]
    eye = torch.eye(3, dtype=axis.dtype, device=axis.device)
    return eye + sin * cross + (1 - cos) * (cross @ cross)


def rotation_between(source: Tensor, target: Tensor, eps: float = 1e-6) -> Tensor:
    """The smallest rotation taking one direction to another (no twist about either).

    Args:
        source, target: (..., 3) non-zero vectors (normalised here).
        eps: below this sine and with opposite directions, the half turn is about an axis
            perpendicular to `source` chosen from its smallest component (any such axis is
            equally small).
    Returns:
        (..., 3, 3) rotations R with R @ source/|source| = target/|target|.
    """
    a = source / source.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    b = target / target.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    axis = torch.linalg.cross(a, b)
    sin = axis.norm(dim=-1)
    cos = (a * b).sum(-1)
    # For opposite directions the cross product vanishes: turn half way about any perpendicular.
    helper = torch.zeros_like(a)
    helper.scatter_(-1, a.abs().argmin(dim=-1, keepdim=True), 1.0)
    perpendicular = torch.linalg.cross(a, helper)
    opposite = (sin < eps) & (cos < 0)
    axis = torch.where(opposite[..., None], perpendicular, axis)
    axis = axis / axis.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    return axis_angle_to_matrix(axis, torch.atan2(sin, cos))


def fit_rotation(source: Tensor, target: Tensor, weights: Tensor | None = None) -> Tensor:
    """The rotation that best takes a set of vectors onto another (Kabsch, least squares).

    Args:
        source: (..., N, 3) vectors in the frame being rotated.
        target: (..., N, 3) the vectors they should become.
        weights: (..., N) non-negative weights; None weighs all alike.
    Returns:
        (..., 3, 3) proper rotations R minimising sum_n w_n |R source_n - target_n|^2. With
        fewer than two non-parallel vectors the rotation about them is not pinned (SVD picks one).
    """
    if weights is not None:
        source = source * weights[..., None]
    covariance = target.transpose(-1, -2) @ source  # (..., 3, 3) sum_n target_n source_n^T
    u, _, vh = torch.linalg.svd(covariance)
    det = torch.det(u @ vh)
    flip = torch.ones_like(u[..., 0, :])
    flip[..., 2] = torch.sign(det) + (det == 0).to(det.dtype)  # a reflection would fit better: exclude it
    return (u * flip[..., None, :]) @ vh


def nearest_rotation(matrix: Tensor) -> Tensor:
    """The proper rotation nearest each matrix in the Frobenius norm (a blend of rotations projected back).

    Args:
        matrix: (..., 3, 3).
    Returns:
        (..., 3, 3) rotations.
    """
    eye = torch.eye(3, dtype=matrix.dtype, device=matrix.device).expand_as(matrix)
    return fit_rotation(eye, matrix.transpose(-1, -2))


def rotation_angle(matrix: Tensor) -> Tensor:
    """The angle of each rotation, radians in [0, pi].

    Args:
        matrix: (..., 3, 3) rotation matrices.
    Returns:
        (...) angles.
    """
    trace = matrix.diagonal(dim1=-2, dim2=-1).sum(-1)
    return torch.acos(((trace - 1) / 2).clamp(-1.0, 1.0))
