"""The segment layout (named slices of the DRMM's 487-wide vector) and the HG-VAE window layout.

Defined once here; models, preprocessing and playback slice vectors only through these names.
Defaults follow the DRMM paper's animation experiment (App. C, Fig. 8).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from motion.conventions import UP_AXIS

POSE_AXES = 3  # x, y, z per joint, joint-major within a pose
GROUND_AXES = 2  # x, y: the ground plane, where flags and the facing direction live


@dataclass(frozen=True)
class SegmentLayout:
    """A 40-frame segment flattened to context blocks, next poses and goals.

    Frame indices are relative to the segment's first frame. The current frame (the last
    context frame) is where the segment is normalised: root on the ground at the origin,
    facing +x. Variables, in order:
      - context: each block's frames averaged into one pose, (blocks, joints, 3)
      - next poses: the frames right after the current one, (next, joints, 3)
      - goals over the goal frames: mean root position (3), mean forward vector
        re-normalised to unit length (3), mean head height (1)
    Poses are joint-major (x, y, z of joint 0, then joint 1, ...), metres.

    Attributes:
        joints: joints per pose (20 for laforge20).
        window_frames: frames in a segment.
        context_blocks: [start, stop) frame ranges averaged into the context poses.
        next_frames: [start, stop) of the sampled next poses.
        goal_frames: [start, stop) of the frames the goals average over.
    """

    joints: int = 20
    window_frames: int = 40
    context_blocks: tuple[tuple[int, int], ...] = ((0, 7), (7, 9), (9, 10))
    next_frames: tuple[int, int] = (10, 15)
    goal_frames: tuple[int, int] = (10, 40)

    def __post_init__(self) -> None:
        blocks = [tuple(b) for b in self.context_blocks]
        object.__setattr__(self, "context_blocks", tuple(blocks))
        object.__setattr__(self, "next_frames", tuple(self.next_frames))
        object.__setattr__(self, "goal_frames", tuple(self.goal_frames))
        starts_ok = blocks[0][0] == 0 and all(a[1] == b[0] and a[0] < a[1] for a, b in zip(blocks, blocks[1:]))
        if not blocks or not starts_ok or blocks[-1][0] >= blocks[-1][1]:
            raise ValueError(f"context blocks must tile [0, current frame] in order, got {blocks}")
        if self.next_frames[0] != blocks[-1][1] or self.next_frames[1] <= self.next_frames[0]:
            raise ValueError(f"next frames {self.next_frames} must start right after the context")
        if not (self.current_frame < self.goal_frames[0] < self.goal_frames[1] <= self.window_frames):
            raise ValueError(f"goal frames {self.goal_frames} must lie after the current frame, within the window")
        if self.next_frames[1] > self.window_frames:
            raise ValueError(f"next frames {self.next_frames} run past the {self.window_frames}-frame window")

    @property
    def current_frame(self) -> int:
        """Index of the last context frame, where the segment is normalised."""
        return self.context_blocks[-1][1] - 1

    @property
    def pose_size(self) -> int:
        return self.joints * POSE_AXES

    @property
    def context(self) -> slice:
        return slice(0, len(self.context_blocks) * self.pose_size)

    def context_block(self, block: int) -> slice:
        start = block * self.pose_size
        return slice(start, start + self.pose_size)

    @property
    def current_pose(self) -> slice:
        """The last context block: the current frame alone with the default blocks."""
        return self.context_block(len(self.context_blocks) - 1)

    @property
    def next_pose_count(self) -> int:
        """Poses sampled per decision (5 with the defaults)."""
        return self.next_frames[1] - self.next_frames[0]

    @property
    def next_poses(self) -> slice:
        start = self.context.stop
        return slice(start, start + self.next_pose_count * self.pose_size)

    def next_pose(self, index: int) -> slice:
        start = self.next_poses.start + index * self.pose_size
        return slice(start, start + self.pose_size)

    def next_pose_heights(self, joint: int) -> list[int]:
        """Indices of `joint`'s height (z) in each next pose, e.g. the head's for a ceiling."""
        return [self.next_pose(pose).start + POSE_AXES * joint + UP_AXIS for pose in range(self.next_pose_count)]

    @property
    def goal_root_position(self) -> slice:
        return slice(self.next_poses.stop, self.next_poses.stop + 3)

    @property
    def goal_root_xy(self) -> slice:
        """The goal root position on the ground (x, y): where a flag conditions the model."""
        return slice(self.goal_root_position.start, self.goal_root_position.start + GROUND_AXES)

    @property
    def goal_forward(self) -> slice:
        return slice(self.goal_root_position.stop, self.goal_root_position.stop + 3)

    @property
    def goal_forward_xy(self) -> slice:
        """The goal forward vector's ground components (x, y); its z is always 0."""
        return slice(self.goal_forward.start, self.goal_forward.start + GROUND_AXES)

    @property
    def goal_head_height(self) -> slice:
        return slice(self.goal_forward.stop, self.goal_forward.stop + 1)

    @property
    def goals(self) -> slice:
        return slice(self.goal_root_position.start, self.goal_head_height.stop)

    @property
    def size(self) -> int:
        """Variables per segment: 24 * joints + 7 with the defaults (487 for 20 joints)."""
        return self.goals.stop

    def slices(self) -> dict[str, tuple[int, int]]:
        """Every named slice as [start, stop), for the dataset metadata."""
        named = {f"context_block_{i}": self.context_block(i) for i in range(len(self.context_blocks))}
        named |= {f"next_pose_{i}": self.next_pose(i) for i in range(self.next_pose_count)}
        for name in ("context", "next_poses", "goals", "goal_root_position", "goal_forward", "goal_head_height"):
            named[name] = getattr(self, name)
        return {name: (s.start, s.stop) for name, s in named.items()}

    def to_dict(self) -> dict:
        return asdict(self) | {"size": self.size, "slices": self.slices()}

    @classmethod
    def from_dict(cls, data: dict) -> SegmentLayout:
        blocks = tuple(tuple(b) for b in data["context_blocks"])
        return cls(
            data["joints"], data["window_frames"], blocks, tuple(data["next_frames"]), tuple(data["goal_frames"])
        )


@dataclass(frozen=True)
class WindowLayout:
    """An HG-VAE window: frames x joints x 3 positions, flattened frame-major, normalised at frame 0.

    Attributes:
        joints: joints per frame.
        frames: frames per window (50 in the HG-VAE paper).
        fps: frame rate the clips are resampled to (25, as the HG-VAE paper does for AMASS).
    """

    joints: int = 20
    frames: int = 50
    fps: float = 25.0

    @property
    def size(self) -> int:
        return self.frames * self.joints * POSE_AXES

    @property
    def shape(self) -> tuple[int, int, int]:
        """(frames, joints, 3): the shape of one window's features."""
        return (self.frames, self.joints, POSE_AXES)

    def to_dict(self) -> dict:
        return asdict(self) | {"size": self.size}

    @classmethod
    def from_dict(cls, data: dict) -> WindowLayout:
        return cls(data["joints"], data["frames"], float(data["fps"]))
