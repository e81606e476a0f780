"""The 7-DoF Franka Emika Panda arm: vectorised forward kinematics, joint limits and pose errors.

The kinematic parameters and joint limits are Franka's published ones (the "Denavit-Hartenberg
parameters" table of the Franka Control Interface documentation, modified/Craig convention:
each joint's transform is RotX(alpha) TransX(a) RotZ(q) TransZ(d)). The end effector is the
flange frame F, 0.107 m past joint 7 along its axis, as in that table; the gripper is not
modelled. Base frame: z up, metres, radians.

The IK target (the thesis's and IKFlow's) is the end effector's position and orientation for a
configuration drawn uniformly within the joint limits, so every target is reachable.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

JOINTS = 7
# (a, d, alpha) per joint, metres and radians, then the flange's.
DH = (
    (0.0, 0.333, 0.0),
    (0.0, 0.0, -math.pi / 2),
    (0.0, 0.316, math.pi / 2),
    (0.0825, 0.0, math.pi / 2),
    (-0.0825, 0.384, -math.pi / 2),
    (0.0, 0.0, math.pi / 2),
    (0.088, 0.0, math.pi / 2),
)
FLANGE_D = 0.107
LOWER = (-2.8973, -1.7628, -2.8973, -3.0718, -2.8973, -0.0175, -2.8973)
UPPER = (2.8973, 1.7628, 2.8973, -0.0698, 2.8973, 3.7525, 2.8973)


def joint_limits() -> tuple[Tensor, Tensor]:
    """(lower, upper), each (7,), radians."""
    return torch.tensor(LOWER), torch.tensor(UPPER)


def random_configurations(count: int, generator: torch.Generator | None = None) -> Tensor:
    """(count, 7) joint angles uniform within the limits, radians."""
    lower, upper = joint_limits()
    return lower + (upper - lower) * torch.rand(count, JOINTS, generator=generator)


def _craig_transform(a: float, d: float, alpha: float, angle: Tensor) -> Tensor:
    """(..., 4, 4) RotX(alpha) TransX(a) RotZ(angle) TransZ(d) for (...) angles."""
    cos, sin = angle.cos(), angle.sin()
    ca, sa = math.cos(alpha), math.sin(alpha)
    zero, one = torch.zeros_like(angle), torch.ones_like(angle)
    rows = (
        (cos, -sin, zero, a * one),
        (sin * ca, cos * ca, -sa * one, -sa * d * one),
        (sin * sa, cos * sa, ca * one, ca * d * one),
        (zero, zero, zero, one),
    )
    return torch.stack([torch.stack(row, -1) for row in rows], -2)


def forward_kinematics(angles: Tensor) -> tuple[Tensor, Tensor]:
    """The flange's pose for joint angles.

    Args:
        angles: (..., 7) joint angles, radians.
    Returns:
        position (..., 3), metres, and rotation (..., 3, 3), the flange axes as columns, in the
        base frame.
    """
    transform = None
    for joint, (a, d, alpha) in enumerate(DH):
        step = _craig_transform(a, d, alpha, angles[..., joint])
        transform = step if transform is None else transform @ step
    position = transform[..., :3, 3] + FLANGE_D * transform[..., :3, 2]
    return position, transform[..., :3, :3]


def flange_pose(angles: Tensor) -> Tensor:
    """(..., 12) the flange pose of joint angles (..., 7): position (m) and row-major rotation, the
    IK target as a flat vector (the thesis's context, the DRMM's goal variables)."""
    position, rotation = forward_kinematics(angles)
    return torch.cat([position, rotation.flatten(-2)], -1)


def pose_errors(
    position: Tensor, rotation: Tensor, target_position: Tensor, target_rotation: Tensor
) -> tuple[Tensor, Tensor]:
    """Euclidean position error and geodesic rotation error, the thesis's Table 5.1 measures.

    Args:
        position, target_position: (..., 3) metres.
        rotation, target_rotation: (..., 3, 3) rotation matrices.
    Returns:
        position error (...), metres, and rotation error (...), radians in [0, pi].
    """
    relative = target_rotation.transpose(-1, -2) @ rotation
    trace = relative.diagonal(dim1=-2, dim2=-1).sum(-1)
    # acos is steep at +-1; clamping keeps rounding from making NaNs for (near-)exact poses.
    angle = torch.acos(((trace - 1) / 2).clamp(-1.0, 1.0))
    return (position - target_position).norm(dim=-1), angle
