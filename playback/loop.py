"""The autoregressive loop: a DRMM samples the next poses toward a flag, 5 frames per decision.

Each decision normalises the last frames exactly as preprocessing normalised segments, asks the
model what goals are reachable from this context (the population), clips the flag's goal to
them, samples candidates conditioned on the context and the clipped goal, and appends the most
likely candidate's poses in global coordinates (DRMM paper, Sec. 4.2 and App. C).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from motion.geometry import facing_direction, from_local_frame, to_local_frame
from motion.layout import SegmentLayout
from motion.models.conditions import Condition
from motion.models.drmm import DRMM
from motion.models.mdn import MDN, mdn_inputs
from motion.skeleton import Skeleton
from playback.contacts import FootLock
from playback.flags import FlagCourse
from playback.goals import CLIPPING_MODES, clip_along_direction, clip_box
from playback.seams import inertialize


@dataclass
class PlaybackConfig:
    """Settings of the loop; defaults are those that steer (README, "Playback").

    Attributes:
        facing: condition on facing the flag (the goal forward vector); else it is left unknown.
        clipping: "direction" (clip the goal's distance along the direction to the flag),
            "box" (App. C: each goal variable to the population mean +- clip_sd sd), or "none".
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
    clipping: str = "direction"
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
        if self.clipping not in CLIPPING_MODES:
            raise ValueError(f"clipping must be one of {CLIPPING_MODES}, got {self.clipping!r}")

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
    """Generates takes with a trained DRMM, or with an MDN as the baseline (its checkpoint's
    layout, skeleton, roles and fps).

    Args:
        model: the DRMM, or an MDN, in eval mode. An MDN cannot sample goals given the context
            nor take constraints, so it needs clipping "none" and no ceiling.
        layout: the segment layout the model was trained on.
        skeleton: its skeleton (for bone fitting).
        roles: joint indices of "root", "left_shoulder", "right_shoulder", "head".
        fps: the segments' frame rate.
        config: loop settings.
        seed: seed of every random draw (samples and random flags).
    """

    def __init__(
        self,
        model: DRMM | MDN,
        layout: SegmentLayout,
        skeleton: Skeleton,
        roles: dict[str, int],
        fps: float,
        config: PlaybackConfig,
        seed: int = 0,
    ) -> None:
        self.model, self.layout, self.skeleton, self.roles, self.fps, self.config = (
            model, layout, skeleton, roles, fps, config,
        )  # fmt: skip
        if isinstance(model, MDN) and (config.clipping != "none" or config.max_head_height is not None):
            raise ValueError(
                "an MDN cannot sample goals given the context, so it takes neither goal clipping nor a head "
                "ceiling; use clipping 'none' and no --max-head-height, or a DRMM"
            )
        self.device = next(model.parameters()).device
        self.generator = torch.Generator(self.device).manual_seed(seed)
        self.rng = np.random.default_rng(seed)
        self.history_frames = layout.current_frame + 1
        self.step = layout.next_frames[1] - layout.next_frames[0]
        self._previous: Tensor | None = None
        self.bone_lengths = self._median_bone_lengths() if config.fit_bones else None

    # Conditioning ---------------------------------------------------------------------------

    def context(self, history: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The context block means of the history in its current frame.

        Returns:
            context (blocks * J * 3,), origin (3,), facing (3,) of the current frame.
        """
        current = history[-1]
        origin = current[self.roles["root"]]
        facing = facing_direction(current[self.roles["left_shoulder"]], current[self.roles["right_shoulder"]])
        local = to_local_frame(history[None].reshape(1, -1, 3), origin[None], facing[None])[0]
        local = local.reshape(history.shape)
        blocks = [local[begin:end].mean(0) for begin, end in self.layout.context_blocks]
        return torch.cat([block.reshape(-1) for block in blocks]), origin, facing

    def condition(
        self, context: Tensor, context_scale: float = 1.0, ceiling: float | None = None, goals: dict | None = None
    ) -> Condition:
        """One decision's conditioning problem.

        Args:
            context: from `context`.
            context_scale: multiplier of the context block weights.
            ceiling: head-height bound (metres) on every next pose and on the goal head height.
            goals: {first variable: (values, weight)} of known goal variables.
        """
        layout, D = self.layout, self.layout.size
        values = torch.full((D,), float("nan"))
        weights = torch.zeros(D)
        values[layout.context] = context
        for block, weight in enumerate(self.config.context_weights):
            weights[layout.context_block(block)] = weight * context_scale
        for start, (value, weight) in (goals or {}).items():
            values[start : start + len(value)] = value
            weights[start : start + len(value)] = weight
        box_max = None
        if ceiling is not None:
            box_max = torch.full((D,), float("nan"))
            head = self.roles["head"]
            for pose in range(self.step):
                box_max[self.layout.next_pose(pose).start + 3 * head + 2] = ceiling
            box_max[layout.goal_head_height] = ceiling
        box_weight = None if ceiling is None else torch.full((D,), self.config.ceiling_weight)
        return Condition(values=values, weights=weights, box_max=box_max, box_weight=box_weight)

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
        context, origin, facing = self.context(history)
        flag3 = torch.tensor([[flag[0], flag[1], 0.0]], dtype=torch.float32)
        target = to_local_frame(flag3[None], origin[None], facing[None])[0, 0, :2]
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
            first = nexts[:, : predicted.numel()]
            score = score - ((first - predicted) ** 2).sum(1) / (2 * config.continuity_sd**2)
        if self._previous is not None:  # never replay the previous decision's poses
            score = torch.where((nexts - self._previous).abs().amax(1) < 1e-6, -torch.inf, score)
        chosen = int(score.argmax())
        self._previous = nexts[chosen]
        local = nexts[chosen].reshape(self.step, -1, 3)
        if config.blend_seams:
            played = to_local_frame(history[None, -3:].reshape(1, -1, 3), origin[None], facing[None])
            local = inertialize(played.reshape(3, -1, 3), current[chosen].reshape(-1, 3), local, config.blend_frames)
        poses = from_local_frame(local.reshape(1, -1, 3), origin[None], facing[None])[0].reshape(self.step, -1, 3)
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
        root, fwd = layout.goal_root_position.start, layout.goal_forward.start
        goal = target
        if config.clipping != "none":
            population = self.model.sample(
                config.population, self.condition(context, config.population_context_scale, ceiling, {}),
                sort=False, generator=self.generator,
            ).samples  # fmt: skip
            if config.clipping == "box":
                variables = [population[:, root : root + 2]] + ([population[:, fwd : fwd + 2]] if config.facing else [])
                requested = torch.cat([target] + ([forward] if config.facing else []))
                clipped = clip_box(requested, torch.cat(variables, 1), config.clip_sd)
                goal = clipped[:2]
                if config.facing:
                    forward = clipped[2:]
            else:
                goal = clip_along_direction(target, population[:, root : root + 2])
        goals = {root: (goal, config.goal_weight_facing if config.facing else config.goal_weight_free)}
        if config.facing:
            goals[fwd] = (forward, config.forward_weight)
        candidates = self.model.sample(
            config.candidates, self.condition(context, 1.0, ceiling, goals), generator=self.generator
        )
        samples = candidates.samples
        current = samples[:, layout.context_block(len(layout.context_blocks) - 1)]
        return samples[:, layout.next_poses], candidates.log_likelihood, current, goal, forward

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
        segment[0, layout.goal_root_position.start : layout.goal_root_position.start + 2] = target
        segment[0, layout.goal_forward.start : layout.goal_forward.start + 2] = forward
        inputs = mdn_inputs(segment.to(self.device), layout, self.config.facing)
        samples, log_likelihood = self.model.sample(inputs, self.config.candidates, generator=self.generator)
        current = context[layout.context_block(len(layout.context_blocks) - 1)].to(self.device)
        return samples[0], log_likelihood[0], current.expand(len(samples[0]), -1), target

    # A take ---------------------------------------------------------------------------------

    def bootstrap(self) -> Tensor:
        """A start history from one unconditional sample: each context block's mean pose held
        over its frames, then the sample's next poses. (frames, J, 3), at the origin facing +x."""
        if isinstance(self.model, MDN):  # it cannot sample a context: the mean one, held
            sample = torch.zeros(self.layout.size, device=self.device)
            sample[self.layout.context] = self.model.input_mean[: self.layout.context.stop].float()
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
            start: (frames >= current_frame + 1, J, 3) real frames to start from; None bootstraps
                from a model sample.
            progress: show a tqdm bar.
        """
        config = self.config
        history = self.bootstrap() if start is None else torch.as_tensor(start[: self.history_frames]).float()
        # The model continues from its own poses; only what is shown has its feet planted.
        shown_poses = FootLock(self.skeleton, self.fps) if config.lock_feet else (lambda poses: poses)
        frames = [shown_poses(history)]
        course = FlagCourse(flags, config.arena, config.reach, self.rng)
        root = self.roles["root"]
        course.update(history[-1, root, :2].double().numpy())
        total = int(round(seconds * self.fps))
        shown, reached, decisions = [], [], []
        count = len(history)
        began = time.perf_counter()
        with tqdm(total=total, unit="frame", disable=not progress, desc="generating") as bar:
            while count < total:
                ceiling = config.ceiling(count / max(total, 1))
                flag = course.flag.copy()
                poses, log = self.decide(history, flag, ceiling)
                decisions.append({"frame": count} | log)
                for offset, pose in enumerate(poses):
                    shown.append(course.flag.copy())
                    if course.update(pose[root, :2].double().numpy()):
                        reached.append(count + offset)
                frames.append(shown_poses(poses))
                history = torch.cat([history, poses])[-self.history_frames :]
                count += len(poses)
                bar.update(len(poses))
        elapsed = time.perf_counter() - began
        positions = torch.cat(frames).numpy()[:total]
        start_flags = [shown[0] if shown else course.flag] * len(frames[0])
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

    def _median_bone_lengths(self) -> Tensor:
        """(J,) median length of each joint's bone to its parent over unconditional samples (0 at roots)."""
        if isinstance(self.model, MDN):  # next poses from the mean context and goals
            poses, _ = self.model.sample(self.model.input_mean[None].float(), 256, generator=self.generator)
        else:
            poses = self.model.sample(1024, sort=False, generator=self.generator).samples[:, self.layout.next_poses]
        poses = poses.reshape(-1, self.layout.joints, 3)
        return torch.median(bone_lengths(poses, self.skeleton.parents), 0).values


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
