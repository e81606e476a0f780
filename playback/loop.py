"""The autoregressive loop: a DRMM samples the next poses toward a flag, 5 frames per decision.

Each decision encodes the last frames as a segment's context with the encoding preprocessing cut
the training segments with (motion.encoding), asks the model what goals are reachable from this
context (the population), clips the flag's goal to them, samples candidates conditioned on the
context and the clipped goal, and appends the most likely candidate's poses in global coordinates
(DRMM paper, Sec. 4.2 and App. C).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import cache
from itertools import chain
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from motion.assets import LOCOMOTION_CLIPS
from motion.clip import Clip, resample
from motion.encoding import character_frame, encode_context
from motion.errors import InputError
from motion.formats import list_sources, read_source
from motion.geometry import to_local_frame
from motion.layout import SegmentLayout
from motion.models import DRMM, MDN, Condition, MotionMatching, load_model
from motion.models.mdn import mdn_inputs
from motion.skeleton import preset_roles, resolve_joint_map
from playback.contacts import FootLock
from playback.flags import FlagCourse
from playback.goals import CLIPPING_MODES, clip_along_direction, clip_box
from playback.matching import MatchingController
from playback.metrics import motion_metrics, steering_metrics
from playback.seams import played_on

DRMM_CLIPPING = "direction"
"""The goal clipping a DRMM plays with unless told otherwise (README, "Generate a take toward flags")."""

START_CLIP = "dataset-2_walk_normal_001.bvh"
"""The shipped clip (motion.assets.LOCOMOTION_CLIPS) whose first frames start a take by default."""

Goal = tuple[slice, Tensor, float]
"""Known goal variables of a decision: the layout's slice, their values and their weight m."""


@dataclass(frozen=True)
class PlaybackConfig:
    """Settings of the loop; defaults are those that steer (README, "Playback").

    Attributes:
        facing: condition on facing the flag (the goal forward vector); else it is left unknown.
        clipping: "direction" (clip the goal's distance along the direction to the flag),
            "box" (App. C: each goal variable to the population mean +- clip_sd sd), or "none";
            None: the model's own, "direction" for a DRMM and "none" for an MDN (its only mode).
        clip_sd: standard deviations of the "box" clip.
        population: samples of the first pass (goals given the context).
        population_context_scale: multiplier of the context weights in the first pass; below 1
            the population covers more of what is reachable than the single likeliest course.
        candidates: samples of the second pass, of which the most likely is played.
        context_weights: multipliers of the context blocks (oldest first).
        goal_weight_facing, goal_weight_free: multiplier of the goal root x, y with and without facing.
        forward_weight: multiplier of the goal forward x, y (facing mode).
        max_head_height: ceiling on the head (metres) at the start and at the end of the take,
            linear in between; None for no ceiling.
        continuity_sd: metres; when set, candidates are ranked by their log-likelihood plus that of
            their first pose under N(constant-velocity prediction, continuity_sd^2) per coordinate,
            which favours candidates that continue the motion instead of jumping at the seam.
        blend_seams: join each decision's poses onto the played frames by inertialization
            (playback.seams): the sample's jumps in position, velocity and acceleration at the
            seam decay to zero over `blend_frames` frames.
        blend_frames: frames of that decay; beyond the decision's poses, the next decision
            measures what is left afresh.
        ceiling_weight: multiplier of the ceiling's terms; above 1 it outweighs the context, which
            otherwise holds the head near its recent height.
        fit_bones: after sampling, restore the model's median bone lengths along the skeleton.
        lock_feet: plant toes that touch the floor in the frames shown (playback.contacts); the
            model still continues from the poses as sampled.
        reach: root-to-flag distance on the ground that counts as reaching it, metres.
        arena: random flags appear in [-arena, arena]^2, metres.
    """

    facing: bool = True
    clipping: str | None = None
    clip_sd: float = 3.5
    population: int = 256
    population_context_scale: float = 1.0
    candidates: int = 256
    context_weights: tuple[float, ...] = (0.333, 0.333, 0.8)
    goal_weight_facing: float = 0.5
    goal_weight_free: float = 1.0
    forward_weight: float = 1.0
    max_head_height: tuple[float, float] | None = None
    ceiling_weight: float = 20.0
    continuity_sd: float | None = None
    blend_seams: bool = True
    blend_frames: float = 10.0
    fit_bones: bool = True
    lock_feet: bool = True
    reach: float = 1.0
    arena: float = 4.0

    def __post_init__(self) -> None:
        if self.clipping is not None and self.clipping not in CLIPPING_MODES:
            raise ValueError(f"clipping must be one of {CLIPPING_MODES}, got {self.clipping!r}")
        object.__setattr__(self, "context_weights", tuple(self.context_weights))

    def ceiling(self, fraction: float) -> float | None:
        """The head ceiling at `fraction` (0..1) of the take, metres."""
        if self.max_head_height is None:
            return None
        start, end = self.max_head_height
        return start + (end - start) * fraction


@dataclass
class Take:
    """A generated take.

    Attributes:
        positions: (frames, joints, 3) float32 global joint positions, metres, Z-up.
        flags: (frames, 2) the flag shown at each frame, metres.
        reached: frame indices at which a flag was reached.
        decisions: one dict per decision (frame, flag, requested and clipped goal, log-likelihood, ...).
        fps: frames per second.
        seconds_generating: wall time of the sampling, excluding start-up.
    """

    positions: np.ndarray
    flags: np.ndarray
    reached: list[int]
    decisions: list[dict]
    fps: float
    seconds_generating: float
    config: dict = field(default_factory=dict)


class Playback:
    """Generates takes with a trained DRMM, or with an MDN as the baseline, on the layout,
    skeleton and rate its checkpoint describes (`model.metadata`).

    Args:
        model: the DRMM, or an MDN, in eval mode, as DRMM.load or MDN.load gives it. An MDN cannot
            sample goals given the context nor take constraints, so it needs clipping "none" and no
            ceiling.
        config: loop settings.
        seed: seed of every random draw (samples and random flags).
    Raises:
        InputError: the model's checkpoint describes no segment layout, skeleton and rate.
        ValueError: settings the model cannot take.
    """

    def __init__(self, model: DRMM | MDN | MotionMatching, config: PlaybackConfig | None = None, seed: int = 0) -> None:
        config = config or PlaybackConfig()
        samples_no_goals = isinstance(model, (MDN, MotionMatching))  # so there is nothing to clip nor bound
        if config.clipping is None:
            config = replace(config, clipping="none" if samples_no_goals else DRMM_CLIPPING)
        metadata = model.metadata
        if metadata is None or not isinstance(metadata.layout, SegmentLayout):
            raise InputError(
                "the model's checkpoint has no segment layout, skeleton and rate; train it with motion train"
            )
        if samples_no_goals and (config.clipping != "none" or config.max_head_height is not None):
            what = "motion matching plays recorded frames"
            if isinstance(model, MDN):
                what = "an MDN cannot sample goals given the context"
            raise ValueError(
                f"{what}, so it takes neither goal clipping nor a head ceiling; use clipping 'none' and no "
                "--max-head-height, or a DRMM"
            )
        self.model, self.config = model, config
        self.layout, self.skeleton, self.fps = metadata.layout, metadata.skeleton, metadata.fps
        self.roles = preset_roles(self.skeleton.name)
        self.device = next(chain(model.parameters(), model.buffers())).device  # a database has only buffers
        self.generator = torch.Generator(self.device).manual_seed(seed)
        self.rng = np.random.default_rng(seed)
        self.history_frames = self.layout.current_frame + 1
        self.step = self.layout.next_pose_count
        self._previous: Tensor | None = None
        self.matching = None
        if isinstance(model, MotionMatching):
            self.matching = MatchingController(
                model, self.skeleton, self.fps, self.step, config.facing, config.blend_frames, config.blend_seams
            )
        self.bone_lengths = self._median_bone_lengths() if config.fit_bones else None

    @classmethod
    def from_checkpoint(
        cls, path: str | Path, config: PlaybackConfig | None = None, seed: int = 0, device: str | torch.device = "cpu"
    ) -> Playback:
        """Playback with the DRMM, MDN or motion-matching database of a checkpoint (motion train drmm /
        mdn / matching).

        Raises:
            InputError: unreadable, another kind of model, or settings the model cannot take.
        """
        model = load_model(path, device, kinds=("drmm", "mdn", "matching"))
        try:
            return cls(model, config, seed)
        except ValueError as err:  # InputError included: name the file
            raise InputError(f"{path}: {err}") from None

    # Conditioning ---------------------------------------------------------------------------

    def context(self, history: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The context blocks of the history in its current frame, encoded as preprocessing encodes segments.

        Args:
            history: (current_frame + 1, J, 3) the last frames, global, metres.
        Returns:
            context (blocks * J * 3,), origin (3,), facing (3,) of the current frame.
        """
        recent = history[-self.history_frames :]
        context, origin, facing = encode_context(recent, self.layout, self.roles, torch.zeros(1, dtype=torch.long))
        return context[0].to(history.dtype), origin[0].to(history.dtype), facing[0].to(history.dtype)

    def condition(
        self, context: Tensor, context_scale: float = 1.0, ceiling: float | None = None, goals: Sequence[Goal] = ()
    ) -> Condition:
        """One decision's conditioning problem.

        Args:
            context: from `context`.
            context_scale: multiplier of the context block weights.
            ceiling: head-height bound (metres) on every next pose and on the goal head height.
            goals: known goal variables: (slice of the layout, values, weight) each.
        """
        layout, D = self.layout, self.layout.size
        values = torch.full((D,), float("nan"))
        weights = torch.zeros(D)
        values[layout.context] = context
        for block, weight in enumerate(self.config.context_weights):
            weights[layout.context_block(block)] = weight * context_scale
        for variables, value, weight in goals:
            values[variables] = value
            weights[variables] = weight
        box_max = None
        if ceiling is not None:
            box_max = torch.full((D,), float("nan"))
            box_max[layout.next_pose_heights(self.roles["head"])] = ceiling
            box_max[layout.goal_head_height] = ceiling
        box_weight = None if ceiling is None else torch.full((D,), self.config.ceiling_weight)
        return Condition(values=values, weights=weights, box_max=box_max, box_weight=box_weight)

    def goal_position(self, flag: np.ndarray, origin: Tensor, facing: Tensor) -> Tensor:
        """A ground point (the flag) as the goal root position x, y in the current frame, as
        preprocessing expresses the mean root position over the goal frames.

        Args:
            flag: (2,) x, y on the ground, metres.
            origin, facing: (3,) the current frame, from `context`.
        Returns:
            (2,) metres.
        """
        point = torch.tensor([[flag[0], flag[1], 0.0]], dtype=origin.dtype)
        return to_local_frame(point[None], origin[None], facing[None])[0, 0, :2]

    # One decision ---------------------------------------------------------------------------

    def decide(self, history: Tensor, flag: np.ndarray, ceiling: float | None = None) -> tuple[Tensor, dict]:
        """Sample the next poses toward `flag`.

        Args:
            history: (current_frame + 1, J, 3) the last frames, global, metres.
            flag: (2,) the flag's ground position, metres.
            ceiling: head-height ceiling, metres, or None.
        Returns:
            poses (step, J, 3) global, and the decision's log entry.
        """
        config = self.config
        if self.matching is not None:
            poses, log = self.matching.decide(history, flag)
            if self.bone_lengths is not None:
                poses = fit_bone_lengths(poses, self.skeleton.parents, self.bone_lengths)
            return poses, log
        context, origin, facing = self.context(history)
        target = self.goal_position(flag, origin, facing)
        distance = target.norm().clamp_min(1e-6)
        forward = target / distance

        if isinstance(self.model, MDN):
            nexts, log_likelihood, current, goal = self._mdn_candidates(context, target, forward)
        else:
            nexts, log_likelihood, current, goal, forward = self._drmm_candidates(context, target, forward, ceiling)
        score = log_likelihood.clone()
        predicted = 2 * history[-1] - history[-2]  # where a constant velocity puts the next frame
        predicted = to_local_frame(predicted[None], origin[None], facing[None])[0].reshape(-1)
        if config.continuity_sd is not None:
            first = nexts[:, : self.layout.pose_size]  # the first next pose
            score = score - ((first - predicted) ** 2).sum(1) / (2 * config.continuity_sd**2)
        if self._previous is not None:  # never replay the previous decision's poses
            score = torch.where((nexts - self._previous).abs().amax(1) < 1e-6, -torch.inf, score)
        chosen = int(score.argmax())
        self._previous = nexts[chosen]
        local = nexts[chosen].reshape(self.step, -1, 3)
        blend = config.blend_frames if config.blend_seams else None
        poses = played_on(history, origin, facing, current[chosen].reshape(-1, 3), local, blend)
        if self.bone_lengths is not None:
            poses = fit_bone_lengths(poses, self.skeleton.parents, self.bone_lengths)
        log = {
            "flag": [float(flag[0]), float(flag[1])],
            "flag_local": target.tolist(),
            "goal_clipped": goal.tolist(),
            "forward": forward.tolist() if config.facing else None,
            "log_likelihood": float(log_likelihood[chosen]),
            "ceiling": ceiling,
        }
        return poses, log

    def _drmm_candidates(
        self, context: Tensor, target: Tensor, forward: Tensor, ceiling: float | None
    ) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """Goal clipping on a first population, then candidates given the context and clipped goals.

        Returns:
            next poses (C, step*J*3), log-likelihoods (C,), each candidate's own current frame
            (C, J*3), the goal and the forward vector it was given (2,) each.
        """
        config, layout = self.config, self.layout
        goal = target
        if config.clipping != "none":
            population = self.model.sample(
                config.population, self.condition(context, config.population_context_scale, ceiling),
                sort=False, generator=self.generator,
            ).samples  # fmt: skip
            if config.clipping == "box":
                variables = [population[:, layout.goal_root_xy]]
                variables += [population[:, layout.goal_forward_xy]] if config.facing else []
                requested = torch.cat([target] + ([forward] if config.facing else []))
                clipped = clip_box(requested, torch.cat(variables, 1), config.clip_sd)
                goal = clipped[:2]
                if config.facing:
                    forward = clipped[2:]
            else:
                goal = clip_along_direction(target, population[:, layout.goal_root_xy])
        goals = [(layout.goal_root_xy, goal, config.goal_weight_facing if config.facing else config.goal_weight_free)]
        if config.facing:
            goals.append((layout.goal_forward_xy, forward, config.forward_weight))
        candidates = self.model.sample(
            config.candidates, self.condition(context, 1.0, ceiling, goals), generator=self.generator
        )
        samples = candidates.samples
        return samples[:, layout.next_poses], candidates.log_likelihood, samples[:, layout.current_pose], goal, forward

    def _mdn_candidates(
        self, context: Tensor, target: Tensor, forward: Tensor
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Candidates from the MDN given the context, the flag as the goal (no clipping: the
        MDN cannot sample goals) and, in facing mode, the forward vector.

        Returns:
            next poses (C, step*J*3), log-likelihoods (C,), the current frame (C, J*3), the goal (2,).
        """
        layout = self.layout
        segment = torch.zeros(1, layout.size)
        segment[0, layout.context] = context
        segment[0, layout.goal_root_xy] = target
        segment[0, layout.goal_forward_xy] = forward
        inputs = mdn_inputs(segment.to(self.device), layout, self.config.facing)
        samples, log_likelihood = self.model.sample(inputs, self.config.candidates, generator=self.generator)
        current = context[layout.current_pose].to(self.device)
        return samples[0], log_likelihood[0], current.expand(len(samples[0]), -1), target

    # A take ---------------------------------------------------------------------------------

    def start_frames(self, clip: Clip) -> np.ndarray:
        """The first frames of a real clip as a take's start (Playback.run's `start`), on the model's
        skeleton and rate.

        Raises:
            InputError: the clip cannot be mapped to the model's skeleton or lacks complete frames.
        """
        clip = clip.remap(resolve_joint_map(clip.skeleton, self.skeleton.name, None, clip.source))
        positions = resample(clip.positions, clip.fps, self.fps)
        if len(positions) < self.history_frames or np.isnan(positions[: self.history_frames]).any():
            raise InputError(
                f"{clip.source}: needs {self.history_frames} complete frames at {self.fps:g} fps to start from"
            )
        return positions[: self.history_frames]

    def real_start(self) -> Tensor:
        """A take's default start: real frames, so that the first decision continues a motion state
        rather than a model sample (whose held context blocks start a take with jerk and uneven
        bones): the first frames of the shipped walk clip START_CLIP on the model's skeleton and
        rate, moved so that the last of them stands at the origin facing +x, as `bootstrap`'s
        did, for every model alike (`bootstrap` where the model's skeleton cannot take the clip).

        Returns:
            (current_frame + 1, J, 3) global positions, metres.
        """
        try:
            frames = torch.as_tensor(self.start_frames(_start_clip())).float()
        except InputError:  # a skeleton the shipped clip does not map onto
            return self.bootstrap()
        origin, facing = character_frame(frames[-1], self.roles)
        return to_local_frame(frames.reshape(1, -1, 3), origin[None], facing[None]).reshape(frames.shape)

    def bootstrap(self) -> Tensor:
        """A start history from one unconditional sample: each context block's mean pose held
        over its frames, then the sample's next poses. (frames, J, 3), at the origin facing +x."""
        if isinstance(self.model, MDN):  # it cannot sample a context: the mean one, held
            sample = torch.zeros(self.layout.size, device=self.device)
            sample[self.layout.context] = self.model.input_mean[self.layout.context].float()  # inputs start with it
            history = [
                sample[self.layout.context_block(block)].reshape(1, -1, 3).expand(end - begin, -1, -1)
                for block, (begin, end) in enumerate(self.layout.context_blocks)
            ]
            return torch.cat(history)[-self.history_frames :]
        sample = self.model.sample(1, generator=self.generator).samples[0]
        blocks = [
            sample[self.layout.context_block(block)].reshape(1, -1, 3).expand(end - begin, -1, -1)
            for block, (begin, end) in enumerate(self.layout.context_blocks)
        ]
        nexts = sample[self.layout.next_poses].reshape(self.step, -1, 3)
        return torch.cat(blocks + [nexts])[-self.history_frames :]

    def run(
        self,
        seconds: float,
        flags: np.ndarray | None = None,
        start: np.ndarray | None = None,
        progress: bool = False,
    ) -> Take:
        """Generate a take of `seconds` toward a scripted course of flags or random flags.

        Args:
            seconds: length of the take.
            flags: (n, 2) scripted flags, cycled; None for random flags.
            start: (frames >= current_frame + 1, J, 3) real frames to start from; None starts
                from `real_start`.
            progress: show a tqdm bar.
        """
        config = self.config
        history = self.real_start() if start is None else torch.as_tensor(start[: self.history_frames]).float()
        character = Character(self, history, FlagCourse(flags, config.arena, config.reach, self.rng))
        frames = [character.start_shown]
        total = int(round(seconds * self.fps))
        shown, reached, decisions = [], [], []
        count = len(history)
        began = time.perf_counter()
        with tqdm(total=total, unit="frame", disable=not progress, desc="generating") as bar:
            while count < total:
                step = character.step(config.ceiling(count / max(total, 1)))
                decisions.append({"frame": count} | step.log)
                shown += step.flags
                reached += [count + offset for offset in step.reached]
                frames.append(step.poses)
                count += len(step.poses)
                bar.update(len(step.poses))
        elapsed = time.perf_counter() - began
        positions = torch.cat(frames).numpy()[:total]
        start_flags = [shown[0] if shown else character.course.flag] * len(frames[0])
        flags_per_frame = np.asarray(start_flags + shown)[:total]
        return Take(
            positions=positions.astype(np.float32),
            flags=flags_per_frame,
            reached=[frame for frame in reached if frame < total],
            decisions=decisions,
            fps=self.fps,
            seconds_generating=elapsed,
            config=asdict(config),
        )

    def figures(self, take: Take) -> dict[str, float]:
        """A take's figures: steering_metrics and motion_metrics (playback.metrics), the median head
        height over the generated frames (metres), the wall time per decision (ms) and the real-time
        factor of generation."""
        figures = steering_metrics(take.positions, take.flags, take.reached, take.fps, self.roles)
        figures |= motion_metrics(take.positions, take.fps, self.skeleton)
        figures["head_height_m"] = float(np.median(take.positions[self.history_frames :, self.roles["head"], 2]))
        seconds = max(take.seconds_generating, 1e-9)
        figures["decision_ms"] = 1000 * seconds / max(len(take.decisions), 1)
        figures["real_time_factor"] = len(take.positions) / take.fps / seconds
        return figures

    def _median_bone_lengths(self) -> Tensor:
        """(J,) median length of each joint's bone to its parent over unconditional samples (0 at roots)."""
        if self.matching is not None:  # the database's own frames, those it plays
            playable = self.model.positions[self.model.playable]
            return torch.median(bone_lengths(playable, self.skeleton.parents), 0).values
        if isinstance(self.model, MDN):  # next poses from the mean context and goals
            poses, _ = self.model.sample(self.model.input_mean[None].float(), 256, generator=self.generator)
        else:
            poses = self.model.sample(1024, sort=False, generator=self.generator).samples[:, self.layout.next_poses]
        poses = poses.reshape(-1, self.layout.joints, 3)
        return torch.median(bone_lengths(poses, self.skeleton.parents), 0).values


class Step(NamedTuple):
    """One decision of a Character.

    Attributes:
        poses: (step, J, 3) the poses to show (feet planted when locking), global, metres.
        flags: the flag (2,) in force at each of those frames.
        reached: offsets (into poses) of the frames at which a flag was reached.
        log: the decision's log entry (Playback.decide).
    """

    poses: Tensor
    flags: list[np.ndarray]
    reached: list[int]
    log: dict


class Character:
    """One character between decisions: its recent frames, the poses it shows and its flags. A take
    (Playback.run) steps one to its end; a live session (playback.live) steps one as it plays.

    Args:
        playback: the model and settings that decide; `playback.config.lock_feet` plants the feet of
            what is shown (the model continues from its poses as sampled).
        start: (current_frame + 1, J, 3) the frames to continue from, global, metres.
        course: where the flags are; its first flag is placed from the start's root.
    """

    def __init__(self, playback: Playback, start: Tensor, course: FlagCourse) -> None:
        self.playback, self.history, self.course = playback, start, course
        self.root = playback.roles["root"]
        self.lock_feet(playback.config.lock_feet)
        if playback.matching is not None:
            playback.matching.reset()
        self.start_shown = self.shown(start)
        course.update(start[-1, self.root, :2].double().numpy())

    def lock_feet(self, on: bool) -> None:
        """Plant the feet of the poses shown from now on, or stop; a fresh lock each time, since pins
        from before it was off would jump."""
        self.foot_lock = FootLock(self.playback.skeleton, self.playback.fps) if on else None

    def shown(self, poses: Tensor) -> Tensor:
        return poses if self.foot_lock is None else self.foot_lock(poses)

    def step(self, ceiling: float | None = None) -> Step:
        """Decide the next poses toward the current flag; the flag moves on as the root reaches it."""
        poses, log = self.playback.decide(self.history, self.course.flag.copy(), ceiling)
        flags, reached = [], []
        for offset, pose in enumerate(poses):
            flags.append(self.course.flag.copy())
            if self.course.update(pose[self.root, :2].double().numpy()):
                reached.append(offset)
        self.history = torch.cat([self.history, poses])[-self.playback.history_frames :]
        return Step(self.shown(poses), flags, reached, log)


@cache
def _start_clip() -> Clip:
    """The shipped clip takes start from (START_CLIP in the sample clips), read once."""
    for source in list_sources([LOCOMOTION_CLIPS]):
        if source.name.endswith(START_CLIP):
            return read_source(source)[0]
    raise InputError(f"{LOCOMOTION_CLIPS}: has no {START_CLIP}")


def bone_lengths(poses: Tensor, parents: tuple[int, ...]) -> Tensor:
    """(..., J) distance of each joint to its parent; 0 for roots."""
    index = torch.tensor([max(p, 0) for p in parents])
    lengths = (poses - poses[..., index, :]).norm(dim=-1)
    return torch.where(torch.tensor(parents) < 0, 0.0, lengths)


def fit_bone_lengths(poses: Tensor, parents: tuple[int, ...], lengths: Tensor) -> Tensor:
    """Restore bone lengths, keeping each bone's direction: walk the tree from the root, placing
    each joint at its parent plus its sampled bone direction times the reference length.

    Args:
        poses: (..., J, 3) positions.
        lengths: (J,) reference lengths.
    """
    fitted = poses.clone()
    for joint in topological_order(parents):
        parent = parents[joint]
        if parent < 0:
            continue
        bone = poses[..., joint, :] - poses[..., parent, :]
        direction = bone / bone.norm(dim=-1, keepdim=True).clamp_min(1e-8)
        fitted[..., joint, :] = fitted[..., parent, :] + direction * lengths[joint]
    return fitted


def topological_order(parents: tuple[int, ...]) -> list[int]:
    """Joint indices with every parent before its children."""
    order, placed = [], set()
    while len(order) < len(parents):
        ready = [j for j, p in enumerate(parents) if j not in placed and (p < 0 or p in placed)]
        if not ready:
            raise ValueError(f"parents {parents} contain a cycle")
        order += ready
        placed.update(ready)
    return order
