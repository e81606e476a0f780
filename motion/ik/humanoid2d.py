"""The 2-D humanoid of the DRMM paper's IK experiment (Sec. 4.1, Fig. 6): vectorised forward kinematics.

A planar figure (x right, y up, metres) of 11 hinged bones: a two-piece torso whose lower piece
is the root, a head, two-bone arms and two-bone legs, with the bone lengths and angle ranges of
the reference code (`Plot_IK.py`, rig "fullbody"). Angles turn counter-clockwise here; the
reference turns its points clockwise (`p @ R`), so its right-side ranges appear negated. Its
left side takes the right side's ranges with the bounds swapped, which under uniform sampling
changes nothing and leaves the figure lopsided (both thighs swing mostly toward the same side); here
the left side is the mirror image of the right. A configuration is the root's position and
rotation and ten joint angles, all uniform within their limits. The observation a DRMM is trained
on (`observe`) appends the centre of mass and the world positions of the hands, the feet and the
top of the head.

The paper counts 30 values: the reference code also stores an angle for each of its five end
points, which its limits pin to 0. Those constants are left out here, so a vector has 25 values;
everything a goal or a constraint can name is in it.

The centre of mass is the mean of the 11 bones' box centres (each bone weighs the same, as in the
reference). The reference divides that sum by all 16 of its bones, end points included, which
pulls its "centre of mass" 31 % of the way toward the origin; the true mean is used here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

HALF_TORSO_WIDTH = 0.15
TORSO_PIECE = 0.25  # length of each torso piece and of the head
ARM_BONE = 0.3
LEG_BONE = 0.35
ROOT_X_RANGE = (-0.3, 0.3)
ROOT_Y_RANGE = (0.4, 1.0)


@dataclass(frozen=True)
class Bone:
    """One hinged bone: where it attaches on its parent, where its far end lies, its angle range.

    Attributes:
        name: the bone's name (also its angle's variable name).
        parent: index of the parent bone, -1 for the root.
        attach: (x, y) of the hinge in the parent's frame, metres.
        tip: (x, y) of the far end in the bone's own frame at angle 0, metres.
        limits: (low, high) angle relative to the parent, radians, counter-clockwise.
        width: the bone's box width across its axis, metres (for the centre of mass and drawing).
    """

    name: str
    parent: int
    attach: tuple[float, float]
    tip: tuple[float, float]
    limits: tuple[float, float]
    width: float


PI = math.pi
BONES = (
    Bone("torso", -1, (0.0, 0.0), (0.0, TORSO_PIECE), (-0.4 * PI, 0.4 * PI), 2 * HALF_TORSO_WIDTH),
    Bone("chest", 0, (0.0, TORSO_PIECE), (0.0, TORSO_PIECE), (-0.4 * PI, 0.4 * PI), 2 * HALF_TORSO_WIDTH),
    Bone("head", 1, (0.0, TORSO_PIECE), (0.0, TORSO_PIECE), (-0.1 * PI, 0.1 * PI), 0.15),
    Bone("r_upper_arm", 1, (HALF_TORSO_WIDTH, TORSO_PIECE), (ARM_BONE, 0.0), (-0.5 * PI, 0.5 * PI), 0.1),
    Bone("r_forearm", 3, (ARM_BONE, 0.0), (ARM_BONE, 0.0), (-0.5 * PI, 0.0), 0.1),
    Bone("l_upper_arm", 1, (-HALF_TORSO_WIDTH, TORSO_PIECE), (-ARM_BONE, 0.0), (-0.5 * PI, 0.5 * PI), 0.1),
    Bone("l_forearm", 5, (-ARM_BONE, 0.0), (-ARM_BONE, 0.0), (0.0, 0.5 * PI), 0.1),
    Bone("r_thigh", 0, (HALF_TORSO_WIDTH, 0.0), (0.0, -LEG_BONE), (-0.3 * PI, 0.1 * PI), 0.1),
    Bone("r_shin", 7, (0.0, -LEG_BONE), (0.0, -LEG_BONE), (-0.25 * PI, 0.25 * PI), 0.1),
    Bone("l_thigh", 0, (-HALF_TORSO_WIDTH, 0.0), (0.0, -LEG_BONE), (-0.1 * PI, 0.3 * PI), 0.1),
    Bone("l_shin", 9, (0.0, -LEG_BONE), (0.0, -LEG_BONE), (-0.25 * PI, 0.25 * PI), 0.1),
)
# Points whose world positions are observed, by the bone whose tip they are.
END_POINTS = {"r_hand": "r_forearm", "l_hand": "l_forearm", "r_foot": "r_shin", "l_foot": "l_shin", "head_top": "head"}

CONFIGURATION = ("root_x", "root_y", *(f"{bone.name}_angle" for bone in BONES))
POINTS = ("com", *END_POINTS)
VARIABLES = CONFIGURATION + tuple(f"{point}_{axis}" for point in POINTS for axis in "xy")


def variable(name: str) -> int:
    """Index of a named variable in an observation vector (e.g. "r_hand_y")."""
    return VARIABLES.index(name)


def point_slice(point: str) -> slice:
    """The (x, y) slice of a point ("com", "r_hand", "l_hand", "r_foot", "l_foot", "head_top")."""
    start = variable(f"{point}_x")
    return slice(start, start + 2)


def configuration_limits() -> tuple[Tensor, Tensor]:
    """(low, high), each (13,): the uniform ranges of root x, y (metres) and the 11 angles (radians)."""
    low = [ROOT_X_RANGE[0], ROOT_Y_RANGE[0], *(min(bone.limits) for bone in BONES)]
    high = [ROOT_X_RANGE[1], ROOT_Y_RANGE[1], *(max(bone.limits) for bone in BONES)]
    return torch.tensor(low), torch.tensor(high)


def random_configurations(count: int, generator: torch.Generator | None = None) -> Tensor:
    """(count, 13) configurations uniform within the limits, as the paper's training data."""
    low, high = configuration_limits()
    return low + (high - low) * torch.rand(count, len(low), generator=generator)


def _rotate(angle: Tensor, point: Tensor) -> Tensor:
    """Rotate (..., 2) points counter-clockwise by (...) angles."""
    cos, sin = angle.cos(), angle.sin()
    return torch.stack([cos * point[..., 0] - sin * point[..., 1], sin * point[..., 0] + cos * point[..., 1]], -1)


def bone_frames(configuration: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """World hinge positions, tip positions and absolute angles of every bone.

    Args:
        configuration: (..., 13) root x, y (metres) and the 11 bone angles (radians, each
            relative to its parent; the torso's is the root rotation).
    Returns:
        hinge (..., 11, 2) and tip (..., 11, 2) world positions, metres; angle (..., 11), radians.
    """
    root, local_angle = configuration[..., :2], configuration[..., 2:]
    hinges, tips, angles = [], [], []
    for index, bone in enumerate(BONES):
        attach, tip = configuration.new_tensor(bone.attach), configuration.new_tensor(bone.tip)
        if bone.parent < 0:
            hinge, angle = root, local_angle[..., index]
        else:
            hinge = hinges[bone.parent] + _rotate(angles[bone.parent], attach.expand_as(root))
            angle = angles[bone.parent] + local_angle[..., index]
        hinges.append(hinge)
        angles.append(angle)
        tips.append(hinge + _rotate(angle, tip.expand_as(root)))
    return torch.stack(hinges, -2), torch.stack(tips, -2), torch.stack(angles, -1)


def observe(configuration: Tensor) -> Tensor:
    """The observation vector: the configuration, the centre of mass and the end points.

    Args:
        configuration: (..., 13), as `bone_frames` takes it.
    Returns:
        (..., 25) in the order of VARIABLES: metres and radians.
    """
    hinge, tip, _ = bone_frames(configuration)
    centre_of_mass = (0.5 * (hinge + tip)).mean(-2)  # a box's centre lies midway along its axis
    names = [bone.name for bone in BONES]
    ends = [tip[..., names.index(bone), :] for bone in END_POINTS.values()]
    return torch.cat([configuration, centre_of_mass, *ends], -1)


def random_observations(count: int, generator: torch.Generator | None = None) -> Tensor:
    """(count, 25) observations of uniform random configurations (the paper's 1M training vectors)."""
    return observe(random_configurations(count, generator))
