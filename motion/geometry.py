"""Rotations, forward kinematics, axis conversion and normalisation to a character's local frame.

Pure torch functions on any leading dimensions; they never modify their inputs.
Conventions (motion.conventions): metres, radians, right-handed, Z-up; a character faces
cross(left_shoulder - right_shoulder, up), so a normalised character faces +x with its left at +y.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


def axis_angle_to_matrix_about(axis: str, angle: Tensor) -> Tensor:
    """Rotation matrices about one coordinate axis.

    Args:
        axis: "X", "Y" or "Z".
        angle: (...) radians, counter-clockwise looking down the axis (right-hand rule).
    Returns:
        (..., 3, 3) rotation matrices.
    """
    cos, sin = torch.cos(angle), torch.sin(angle)
    one, zero = torch.ones_like(angle), torch.zeros_like(angle)
    if axis == "X":
        rows = (one, zero, zero, zero, cos, -sin, zero, sin, cos)
    elif axis == "Y":
        rows = (cos, zero, sin, zero, one, zero, -sin, zero, cos)
    elif axis == "Z":
        rows = (cos, -sin, zero, sin, cos, zero, zero, zero, one)
    else:
        raise ValueError(f"axis must be X, Y or Z, got {axis!r}")
    return torch.stack(rows, dim=-1).reshape(angle.shape + (3, 3))


def euler_to_matrix(angles: Tensor, order: str) -> Tensor:
    """Intrinsic Euler angles to rotation matrices, as BVH channels define them.

    Args:
        angles: (..., 3) radians, one per letter of `order`.
        order: the axes in channel order, e.g. "ZXY"; the rotation is R = R_Z @ R_X @ R_Y
            (the first channel is the outermost rotation).
    Returns:
        (..., 3, 3) rotation matrices.
    """
    if len(order) != 3 or angles.shape[-1] != 3:
        raise ValueError(f"expected 3 angles and a 3-letter order, got {angles.shape[-1]} and {order!r}")
    matrix = axis_angle_to_matrix_about(order[0], angles[..., 0])
    for i in (1, 2):
        matrix = matrix @ axis_angle_to_matrix_about(order[i], angles[..., i])
    return matrix


def forward_kinematics(local_rot: Tensor, local_pos: Tensor, parents: Sequence[int]) -> Tensor:
    """Compose parent-relative joint transforms into world positions.

    Args:
        local_rot: (..., joints, 3, 3) rotation of each joint relative to its parent.
        local_pos: (..., joints, 3) translation of each joint in its parent's frame.
        parents: parent index per joint, -1 for a root; parents[j] < j.
    Returns:
        world_pos: (..., joints, 3), in the units of local_pos.
    """
    world_rot: list[Tensor] = []
    world_pos: list[Tensor] = []
    for joint, parent in enumerate(parents):
        if parent < 0:
            world_rot.append(local_rot[..., joint, :, :])
            world_pos.append(local_pos[..., joint, :])
        else:
            if parent >= joint:
                raise ValueError(f"parents must precede children; joint {joint} has parent {parent}")
            world_pos.append(world_pos[parent] + (world_rot[parent] @ local_pos[..., joint, :, None])[..., 0])
            world_rot.append(world_rot[parent] @ local_rot[..., joint, :, :])
    return torch.stack(world_pos, dim=-2)


def y_up_to_z_up(points: Tensor) -> Tensor:
    """Right-handed Y-up to right-handed Z-up: (x, y, z) -> (x, -z, y), a +90 degree turn about x.

    Args:
        points: (..., 3).
    Returns:
        (..., 3).
    """
    return torch.stack((points[..., 0], -points[..., 2], points[..., 1]), dim=-1)


def z_up_to_y_up(points: Tensor) -> Tensor:
    """The inverse of y_up_to_z_up: (x, y, z) -> (x, z, -y), for writing a file's own axes.

    Args:
        points: (..., 3).
    Returns:
        (..., 3).
    """
    return torch.stack((points[..., 0], points[..., 2], -points[..., 1]), dim=-1)


def facing_direction(left: Tensor, right: Tensor, eps: float = 1e-8) -> Tensor:
    """Unit ground-plane facing vector cross(left - right, up), with the shoulder vector projected on the ground.

    Args:
        left, right: (..., 3) positions of the left and right shoulder, Z-up.
        eps: floor on the norm; a degenerate (vertical) shoulder line gives a zero vector, not NaN.
    Returns:
        (..., 3) unit vectors with z = 0.
    """
    across = left - right
    # cross((ax, ay, 0), (0, 0, 1)) = (ay, -ax, 0)
    facing = torch.stack((across[..., 1], -across[..., 0], torch.zeros_like(across[..., 0])), dim=-1)
    return facing / facing.norm(dim=-1, keepdim=True).clamp_min(eps)


def rotate_about_up(vectors: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate vectors about the z axis by the angle whose cosine and sine are given.

    Args:
        vectors: (..., 3).
        cos, sin: broadcastable to vectors[..., 0].
    Returns:
        (..., 3), z unchanged.
    """
    x, y = vectors[..., 0], vectors[..., 1]
    return torch.stack((cos * x - sin * y, sin * x + cos * y, vectors[..., 2]), dim=-1)


def to_local_frame(points: Tensor, origin: Tensor, facing: Tensor) -> Tensor:
    """Express points in a character's local frame: origin on the ground at (0, 0), facing +x.

    Translates by the origin projected on the ground (heights are kept, so the floor stays
    at z = 0), then rotates about z so that `facing` becomes +x.

    Args:
        points: (..., P, 3) positions, metres, Z-up.
        origin: (..., 3) the root position defining the frame.
        facing: (..., 3) unit ground-plane facing vector (facing_direction).
    Returns:
        (..., P, 3) local positions.
    """
    shift = origin.clone()
    shift[..., 2] = 0
    # Rotating by -theta with (cos theta, sin theta) = facing maps facing onto +x.
    cos, sin = facing[..., None, 0], -facing[..., None, 1]
    return rotate_about_up(points - shift[..., None, :], cos, sin)


def from_local_frame(points: Tensor, origin: Tensor, facing: Tensor) -> Tensor:
    """The inverse of to_local_frame: local positions back to global ones.

    Args:
        points: (..., P, 3) local positions.
        origin, facing: (..., 3) as given to to_local_frame.
    Returns:
        (..., P, 3) global positions, metres, Z-up.
    """
    shift = origin.clone()
    shift[..., 2] = 0
    return rotate_about_up(points, facing[..., None, 0], facing[..., None, 1]) + shift[..., None, :]


def directions_to_local_frame(vectors: Tensor, facing: Tensor) -> Tensor:
    """Rotate direction vectors into the local frame of to_local_frame (no translation).

    Args:
        vectors: (..., P, 3).
        facing: (..., 3) unit ground-plane facing vector.
    Returns:
        (..., P, 3).
    """
    return rotate_about_up(vectors, facing[..., None, 0], -facing[..., None, 1])
