"""Figures of a take: how well it steers and how physically plausible its motion is.

The motion figures apply to any clip of global positions, so the same functions measure
real held-out clips as the reference a generated take is compared with.
"""

from __future__ import annotations

import numpy as np

from motion.skeleton import Skeleton

CONTACT_HEIGHT = 0.06
"""Metres; a toe below this is taken to be on the floor (z = 0) for foot skating."""

PENETRATION_DEPTH = 0.02
"""Metres; a joint deeper than this under the floor penetrates it."""


def toe_joints(skeleton: Skeleton) -> list[int]:
    """Indices of the toe joints (names containing "toe"), where foot skating is measured."""
    toes = [i for i, name in enumerate(skeleton.joints) if "toe" in name.lower()]
    if not toes:
        raise ValueError(f"skeleton {skeleton.name!r} has no joint named like a toe")
    return toes


def bone_lengths(positions: np.ndarray, parents: tuple[int, ...]) -> np.ndarray:
    """(frames, bones) length of every bone (joint to its parent), metres."""
    child = [j for j, p in enumerate(parents) if p >= 0]
    parent = [parents[j] for j in child]
    return np.linalg.norm(positions[:, child] - positions[:, parent], axis=-1)


def motion_metrics(
    positions: np.ndarray, fps: float, skeleton: Skeleton, reference_lengths: np.ndarray | None = None
) -> dict[str, float]:
    """Plausibility of a clip's motion.

    Args:
        positions: (frames, joints, 3) global positions, metres, Z-up, floor at z = 0.
        fps: frames per second.
        skeleton: joint names and parents.
        reference_lengths: (bones,) bone lengths of the training skeleton (bone_lengths order),
            for the length error; None skips it.
    Returns:
        foot_skating_m_s: mean horizontal speed of a toe over consecutive frames both below
            CONTACT_HEIGHT (NaN when a toe never touches);
        bone_length_cv_percent: per-bone std / mean over the clip, averaged, percent;
        bone_length_error_cm: mean |length - reference| (when given);
        jerk_m_s3: mean magnitude of the third time derivative of joint positions;
        floor_penetration: fraction of frames with a joint more than PENETRATION_DEPTH under the floor.
    """
    toes = positions[:, toe_joints(skeleton)]
    low = toes[..., 2] < CONTACT_HEIGHT
    contact = low[1:] & low[:-1]
    speed = np.linalg.norm(np.diff(toes[..., :2], axis=0), axis=-1) * fps
    skating = float(speed[contact].mean()) if contact.any() else float("nan")

    lengths = bone_lengths(positions, skeleton.parents)
    cv = float((lengths.std(0) / np.maximum(lengths.mean(0), 1e-6)).mean() * 100)
    jerk = np.diff(positions, n=3, axis=0) * fps**3
    figures = {
        "foot_skating_m_s": skating,
        "bone_length_cv_percent": cv,
        "jerk_m_s3": float(np.linalg.norm(jerk, axis=-1).mean()) if len(jerk) else float("nan"),
        "floor_penetration": float((positions[..., 2] < -PENETRATION_DEPTH).any(1).mean()),
    }
    if reference_lengths is not None:
        figures["bone_length_error_cm"] = float(np.abs(lengths - reference_lengths).mean() * 100)
    return figures


def steering_metrics(
    positions: np.ndarray, flags: np.ndarray, reached: list[int], fps: float, roles: dict[str, int]
) -> dict[str, float]:
    """How a take followed its flags.

    Args:
        positions: (frames, joints, 3) the take.
        flags: (frames, 2) the flag shown at each frame.
        reached: frames at which a flag was reached.
        roles: joint indices of "root", "left_shoulder", "right_shoulder".
    Returns:
        flags_per_minute, mean_seconds_to_flag (NaN when none was reached), and
        facing_error_deg: mean angle at arrival between the character's facing and the
        direction from its root to the flag it reached.
    """
    minutes = len(positions) / fps / 60
    times = np.diff([0, *reached]) / fps
    errors = []
    for frame in reached:
        pose = positions[frame]
        across = pose[roles["left_shoulder"], :2] - pose[roles["right_shoulder"], :2]
        facing = np.array([across[1], -across[0]]) / max(np.linalg.norm(across), 1e-9)  # as facing_direction
        toward = flags[frame] - pose[roles["root"], :2]
        toward = toward / max(np.linalg.norm(toward), 1e-9)
        errors.append(np.degrees(np.arccos(np.clip(facing @ toward, -1, 1))))
    return {
        "flags_per_minute": len(reached) / minutes if minutes else 0.0,
        "mean_seconds_to_flag": float(times.mean()) if len(reached) else float("nan"),
        "facing_error_deg": float(np.mean(errors)) if errors else float("nan"),
    }


def worst_window(
    positions: np.ndarray, fps: float, skeleton: Skeleton, seconds: float = 3.0, skip_frames: int = 0
) -> dict[str, float]:
    """The worst `seconds` of a take: motion_metrics over every window of that length (stride a
    second), each figure's maximum over the windows (foot skating, bone-length CV, jerk, floor
    penetration).

    Args:
        positions: (frames, joints, 3) the take.
        skip_frames: frames at the start not measured (a given start that the method did not make).
    """
    length, stride = int(round(seconds * fps)), max(int(round(fps)), 1)
    positions = positions[skip_frames:]
    if len(positions) < 4:  # jerk needs four frames
        raise ValueError(f"worst_window: {len(positions)} frames after skipping {skip_frames}; need at least 4")
    starts = range(0, max(len(positions) - length, 0) + 1, stride)
    rows = [motion_metrics(positions[start : start + length], fps, skeleton) for start in starts]
    return {key: float(np.nanmax([row[key] for row in rows])) for key in rows[0]}
