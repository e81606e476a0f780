"""The motion-matching controller: a desired trajectory toward the flag from critically damped
springs, a search of the database (motion.models.matching) every `search_every` frames or when the
flag changes, and the matched frames played on from the character's current frame, joined by
inertialization (playback.seams) as the DRMM's decisions are.

The springs follow Holden's "Spring-It-On" formulation: the root's ground velocity moves toward the
desired velocity (the database's walking speed toward the flag) and the facing angle toward the
desired facing, both critically damped with a half-life, from the character's current velocity and
facing; their positions and angles at the trajectory frames ahead are the query's trajectory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from motion.encoding import character_frame
from motion.geometry import to_local_frame
from motion.models.matching import FEET, MotionMatching, pose_features, trajectory_features
from motion.skeleton import Skeleton, preset_roles
from playback.seams import played_on


@dataclass(frozen=True)
class MatchingControl:
    """How the controller drives the database.

    Attributes:
        search_every: frames between searches while the flag stays (LMM: 10).
        velocity_halflife, facing_halflife: seconds for the springs to cover half the way to the
            desired velocity and facing (LMM's 0.27 s).
        switch_margin: a search jumps only when the best frame is this much cheaper (squared
            standardised distance) than playing on, so that near ties do not cause transitions.
        near_frames: a match this close to the frame playing on, in the same clip, plays on.
    """

    search_every: int = 10
    velocity_halflife: float = 0.27
    facing_halflife: float = 0.27
    switch_margin: float = 0.1
    near_frames: int = 20


def spring_positions(velocity: Tensor, desired: Tensor, times: Tensor, halflife: float) -> Tensor:
    """Displacements at `times` of a point whose velocity moves from `velocity` to `desired` as a
    critically damped spring with no initial acceleration: v(t) = desired + (v0 - desired)(1 + yt) e^(-yt).

    Args:
        velocity, desired: (2,) m/s.
        times: (steps,) seconds ahead.
    Returns:
        (steps, 2) metres from the current position.
    """
    y = 2 * math.log(2) / halflife
    e = torch.exp(-y * times)[:, None]
    t = times[:, None]
    j0 = velocity - desired
    # integral of j0 (1 + y s) e^(-ys) ds from 0 to t
    transient = j0 * ((1 - e) / y + (1 - e * (1 + y * t)) / y)
    return desired * t + transient


def spring_angles(angle: float, desired: float, times: Tensor, halflife: float) -> Tensor:
    """Angles at `times` of a critically damped spring from rest at `angle` toward `desired` (radians;
    the shorter way round, so the result runs from `angle` to the turn of `desired` nearest it)."""
    y = 2 * math.log(2) / halflife
    difference = math.remainder(angle - desired, 2 * math.pi)
    return angle - difference + difference * (1 + y * times) * torch.exp(-y * times)


class MatchingController:
    """Plays a motion-matching database toward flags, a few frames per call.

    Args:
        model: the database.
        skeleton, fps: the database's (model.metadata).
        step: frames per call.
        facing: match the trajectory's facing directions too; without, only its positions and the
            pose count (the facing-unspecified mode).
        blend_frames: the inertialization's decay, frames.
        control: search settings.
    """

    def __init__(
        self,
        model: MotionMatching,
        skeleton: Skeleton,
        fps: float,
        step: int,
        facing: bool,
        blend_frames: float,
        blend_seams: bool = True,
        control: MatchingControl | None = None,
    ) -> None:
        if not 2 <= step <= min(model.config.trajectory_frames):
            raise ValueError(
                f"motion matching plays 2 to {min(model.config.trajectory_frames)} frames per call (the nearest "
                f"trajectory step), not {step}"
            )
        self.model, self.fps, self.step = model, fps, step
        self.control = control or MatchingControl()
        self.blend_frames, self.blend_seams = blend_frames, blend_seams
        self.roles = preset_roles(skeleton.name)
        self.feet = [skeleton.index(name) for name in FEET]
        self.device = model.positions.device
        self.times = torch.tensor(model.config.trajectory_frames, dtype=torch.float32, device=self.device) / fps
        self.mask = None
        if not facing:
            self.mask = torch.ones(model.config.features, dtype=torch.bool, device=self.device)
            self.mask[model.group_slice("trajectory_directions")] = False
        self.reset()

    def reset(self) -> None:
        """Forget what was playing: the next call searches from the history it is given."""
        self.frame: int | None = None  # the database frame shown last
        self.since_search = 0
        self.searched_flag: np.ndarray | None = None

    def query(self, history: Tensor, flag: np.ndarray) -> Tensor:
        """The features the character wants now, as the database holds its frames' (MotionMatching.build).

        The springs start from the root's current ground velocity and facing, with no acceleration or
        turning rate: each query plans afresh from the state shown, which the search then matches.

        Args:
            history: (>= 3, J, 3) the last frames shown, global, metres.
            flag: (2,) the flag's ground position, metres.
        Returns:
            (F,) the desired trajectory's features, then the current pose's.
        """
        now = history[-1]
        origin, facing = character_frame(now, self.roles)
        root = now[self.roles["root"]]
        velocity = (history[-1, self.roles["root"], :2] - history[-3, self.roles["root"], :2]) * self.fps / 2
        toward = torch.as_tensor(flag, dtype=torch.float32, device=self.device) - root[:2]
        distance = toward.norm().clamp_min(1e-6)
        desired = toward / distance * self.model.speed
        ahead = spring_positions(velocity, desired, self.times, self.control.velocity_halflife)
        future_roots = torch.cat([root[:2] + ahead, ahead.new_zeros(len(ahead), 1)], 1)
        angle = math.atan2(float(facing[1]), float(facing[0]))
        angles = spring_angles(
            angle, math.atan2(float(toward[1]), float(toward[0])), self.times, self.control.facing_halflife
        )
        future_facings = torch.stack([angles.cos(), angles.sin(), torch.zeros_like(angles)], 1)
        trajectory = trajectory_features(future_roots, future_facings, origin, facing)
        return torch.cat([trajectory, pose_features(history[-2:], self.fps, self.feet, self.roles)])

    def decide(self, history: Tensor, flag: np.ndarray) -> tuple[Tensor, dict]:
        """The next `step` frames toward `flag`.

        Args:
            history: (>= 3, J, 3) the frames shown so far (the last ones), global, metres.
            flag: (2,) the flag's ground position, metres.
        Returns:
            poses (step, J, 3) global, and the decision's log entry.
        """
        model, control, step = self.model, self.control, self.step
        playing = self.frame
        # Playing on needs the frame shown to be playable (its next frames and trajectory recorded).
        can_play_on = playing is not None and bool(model.playable[playing])
        flag_moved = self.searched_flag is None or not np.array_equal(flag, self.searched_flag)
        searched, cost = False, float("nan")
        if not can_play_on or flag_moved or self.since_search >= control.search_every:
            costs = model.costs(self.query(history, flag), self.mask)
            best = int(costs.argmin())
            cost = float(costs[best])
            searched, self.since_search, self.searched_flag = True, 0, np.array(flag, copy=True)
            near = (
                can_play_on
                and int(model.clip_end[best]) == int(model.clip_end[playing])
                and abs(best - playing) < control.near_frames
            )
            if can_play_on and (near or float(costs[playing]) <= cost + control.switch_margin):
                best = playing
        else:
            best = playing
        jumped = best != playing
        self.since_search += step

        origin, facing = character_frame(history[-1], self.roles)
        recorded = model.positions[best : best + step + 1]
        recorded_origin, recorded_facing = character_frame(recorded[0], self.roles)
        local = to_local_frame(recorded.reshape(1, -1, 3), recorded_origin[None], recorded_facing[None]).reshape(
            recorded.shape
        )
        # Every call, not only after a jump: what is left of an earlier jump's offset is measured
        # afresh and decays on, as the DRMM's decisions are joined (Playback.decide).
        poses = played_on(history, origin, facing, local[0], local[1:], self.blend_frames if self.blend_seams else None)
        self.frame = best + step
        log = {
            "flag": [float(flag[0]), float(flag[1])],
            "database_frame": best,
            "searched": searched,
            "jumped": jumped,
            "match_cost": cost,
        }
        return poses, log
