"""One live character and the messages that steer it: what `motion serve` runs per browser tab.

A `LiveSession` owns a Playback and its Character (playback.loop). The server's event loop hands it
client messages (`apply`, quick: settings are stored, not acted on) and a worker thread asks it for
the next frames (`advance`: one decision, with the stored settings applied first), so a decision
never blocks the stream and a message never races a decision.

Client messages are JSON objects with a "type" (the protocol is in the README, "Live control in the
browser"); `parse_message` checks one and raises `ProtocolError` with a one-line reason for anything
malformed or out of range, which the server sends back as {"type": "error", "message": ...}.
"""

from __future__ import annotations

import json
import math
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from motion.clip import Clip
from motion.formats import write_joint_csv
from motion.models import DRMM
from motion.models.drmm import eager_terms
from motion.posing import pose_skeleton, sample_poses
from motion.retarget import write_clip_bvh
from motion.skeleton import preset_roles
from playback.flags import FlagCourse
from playback.loop import Character, Playback, PlaybackConfig
from playback.metrics import motion_metrics

FLAG_RANGE = 50.0
"""Metres: a flag's x and y must lie within +-this."""
CEILING_RANGE = (0.5, 2.5)
"""Metres: a head ceiling must lie in this range."""
POSE_TARGET_RANGE = 3.0
"""Metres: a posing target's coordinates must lie within +-this of the pose frame's origin."""
SKATING_SECONDS = 2.0
"""The live foot-skating figure is measured over the last this many seconds shown."""
EXPORT_FORMATS = ("bvh", "csv")
MESSAGE_TYPES = (
    "flag", "facing", "lock_feet", "ceiling", "pause", "reset", "seed", "record", "export", "pose",
)  # fmt: skip
POSE_SAMPLES, POSES_SHOWN = 64, 5


class ProtocolError(ValueError):
    """A client message that is not valid JSON, not a known message, or has a bad field."""


def _number(message: dict, field: str, low: float, high: float) -> float:
    value = message.get(field)
    try:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value := float(value)):
            raise ValueError
    except (ValueError, OverflowError):  # an integer too large for a float overflows
        raise ProtocolError(f"{message['type']}: {field!r} must be a finite number, got {str(value)[:40]}") from None
    if not low <= value <= high:
        raise ProtocolError(f"{message['type']}: {field!r} must be in [{low:g}, {high:g}], got {value:g}")
    return value


def _switch(message: dict, field: str) -> bool:
    value = message.get(field)
    if not isinstance(value, bool):
        raise ProtocolError(f"{message['type']}: {field!r} must be true or false, got {value!r}")
    return value


def _point(kind: str, name: str, value: object) -> tuple[float, float, float]:
    if not isinstance(value, list) or len(value) != 3:
        raise ProtocolError(f"{kind}: target {name!r} must be [x, y, z], got {str(value)[:40]}")
    coordinates = {"type": kind, **dict(zip("xyz", value))}
    return tuple(_number(coordinates, axis, -POSE_TARGET_RANGE, POSE_TARGET_RANGE) for axis in "xyz")


def parse_message(text: str | bytes) -> dict:
    """A client message, checked: its fields converted (numbers to float), nothing else kept.

    Raises:
        ProtocolError: not JSON, not an object with a known "type", or a field missing, of the
            wrong type or out of range.
    """
    try:
        message = json.loads(text)
    except (ValueError, RecursionError) as err:  # not JSON, not UTF-8, integers too long, too deep
        raise ProtocolError(f"not JSON: {str(err)[:80]}") from None
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise ProtocolError('a message must be a JSON object with a "type"')
    kind = message["type"]
    if kind not in MESSAGE_TYPES:
        raise ProtocolError(f"unknown message type {kind!r}; known: {', '.join(MESSAGE_TYPES)}")
    if kind == "flag":
        return {"type": kind, "x": _number(message, "x", -FLAG_RANGE, FLAG_RANGE),
                "y": _number(message, "y", -FLAG_RANGE, FLAG_RANGE)}  # fmt: skip
    if kind in ("facing", "lock_feet", "record"):
        return {"type": kind, "on": _switch(message, "on")}
    if kind == "ceiling":
        if message.get("height") is None:
            return {"type": kind, "height": None}
        return {"type": kind, "height": _number(message, "height", *CEILING_RANGE)}
    if kind == "pause":
        return {"type": kind, "on": _switch(message, "on") if "on" in message else None}  # None: toggle
    if kind == "seed":
        seed = message.get("seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**31):
            raise ProtocolError(f"seed: 'seed' must be an integer in [0, 2^31), got {seed!r}")
        return {"type": kind, "seed": seed}
    if kind == "export":
        if message.get("format") not in EXPORT_FORMATS:
            raise ProtocolError(f"export: 'format' must be one of {', '.join(EXPORT_FORMATS)}")
        return {"type": kind, "format": message["format"]}
    if kind == "pose":
        targets = message.get("targets")
        if not isinstance(targets, dict) or not targets:
            raise ProtocolError('pose: "targets" must be an object of joint name -> [x, y, z]')
        parsed = {"type": kind, "targets": {str(name): _point(kind, name, p) for name, p in targets.items()}}
        parsed["ceiling"] = None if message.get("ceiling") is None else _number(message, "ceiling", *CEILING_RANGE)
        return parsed
    return {"type": kind}  # reset


def rounded(positions: np.ndarray) -> list:
    """Positions as nested lists rounded to 0.1 mm: a frame message stays under 1 kB."""
    return np.round(positions.astype(np.float64), 4).tolist()


class LiveSession:
    """One browser tab's character.

    Args:
        model: the locomotion DRMM (shared between sessions; sampling does not change it).
        seed: seed of the samples and the random flags.
        pose_model: a DRMM trained on poses (motion.posing), or None for no posing.
    """

    def __init__(self, model: DRMM, seed: int = 0, pose_model: DRMM | None = None) -> None:
        self.model, self.pose_model, self.seed = model, pose_model, seed
        self.config = PlaybackConfig()
        self.ceiling: float | None = None
        self.paused = False
        self.recording_on = False
        self.recording: list[np.ndarray] = []  # frames shown since recording last started
        self.generation = 0  # bumped by reset: frames of an earlier generation are dropped
        self.decision_ms = float("nan")
        self._lock = threading.Lock()
        self._pending: dict = {"restart": True}  # settings for the next decision, under _lock
        self._placed: np.ndarray | None = None  # the flag the user placed last
        self._placements = 0  # how many the user placed: a frame generated before the last shows it
        self._shown: list[np.ndarray] = []  # recent frames, for the live skating figure
        # Built by the first `advance`, in a worker thread: building one here would pause every
        # other session's stream while a tab connects.
        self.playback: Playback | None = None
        self.character: Character | None = None
        metadata = model.metadata
        self.skeleton, self.fps = metadata.skeleton, metadata.fps
        self.root = preset_roles(self.skeleton.name)["root"]

    # What the client sees ---------------------------------------------------------------------

    def hello(self, max_sessions: int) -> dict:
        poses = None if self.pose_model is None else pose_skeleton(self.pose_model)
        return {
            "type": "hello",
            "names": list(self.skeleton.joints),
            "parents": list(self.skeleton.parents),
            "fps": self.fps,
            "root": self.root,
            "seed": self.seed,
            "facing": self.config.facing,
            "lock_feet": self.config.lock_feet,
            "ceiling": self.ceiling,
            "ceiling_range": list(CEILING_RANGE),
            "reach": self.config.reach,
            "max_sessions": max_sessions,
            "pose": None if poses is None else {"names": list(poses.joints), "parents": list(poses.parents)},
        }

    def flag(self, frame: dict) -> list[float]:
        """The flag to show with a frame: the user's latest if placed after the frame was generated
        (so a new flag shows at once), else the one the frame was generated toward."""
        with self._lock:
            flag = self._placed if self._placements > frame["placements"] else frame["flag"]
        return [round(float(v), 4) for v in flag]

    # Messages (event loop) -------------------------------------------------------------------

    def apply(self, message: dict) -> dict | None:
        """Store a parsed message's setting for the next decision; returns a reply, if any.

        "export" and "pose" are answered by `export` and `poses` (they take a worker thread).
        """
        kind = message["type"]
        with self._lock:
            if kind == "flag":
                self._placed = np.array([message["x"], message["y"]])
                self._placements += 1
                self._pending["flag"] = self._placed.copy()
            elif kind in ("facing", "lock_feet"):
                self._pending[kind] = message["on"]
            elif kind == "ceiling":
                self.ceiling = message["height"]
            elif kind == "pause":
                self.paused = (not self.paused) if message["on"] is None else message["on"]
            elif kind in ("reset", "seed"):
                if kind == "seed":
                    seed = message["seed"]
                    self.seed = int(np.random.default_rng().integers(2**31)) if seed is None else seed
                self._restart()
                if self.recording_on:  # a recording would jump back to the start: it ends here
                    self.recording_on = False
                    return {"type": "record", "on": False, "frames": len(self.recording)}
            elif kind == "record":
                if message["on"]:
                    self.recording = []
                self.recording_on = message["on"]
                return {"type": "record", "on": message["on"], "frames": len(self.recording)}
        return None

    def _restart(self) -> None:
        """A new take from the start, toward a random flag: a flag placed before the reset and not
        yet headed for goes with the old take (one placed after it is kept)."""
        self.generation += 1
        self._pending.pop("flag", None)
        self._pending["restart"] = True

    def shown(self, positions: np.ndarray) -> None:
        """Note a frame sent to the client (J, 3): for recording and the skating figure."""
        if self.recording_on:
            self.recording.append(positions)
        self._shown.append(positions)
        del self._shown[: -int(SKATING_SECONDS * self.fps)]

    def skating(self) -> float | None:
        """Mean horizontal toe speed in contact over the last SKATING_SECONDS shown, m/s (None: no contact)."""
        if len(self._shown) < 2:
            return None
        value = motion_metrics(np.stack(self._shown), self.fps, self.skeleton)["foot_skating_m_s"]
        return None if math.isnan(value) else round(value, 4)

    # Work (a worker thread) -------------------------------------------------------------------

    def advance(self) -> tuple[int, list[dict]]:
        """The next frames: the start after a reset, else one decision's poses.

        Returns:
            the generation they belong to, and one dict per frame: "joints" (J, 3), "root", "flag"
            (the one it heads for), "reached" (flags so far) and "placements" (flags the user had placed).
        """
        with self._lock:
            pending, self._pending = self._pending, {}
            generation, ceiling, seed, placements = self.generation, self.ceiling, self.seed, self._placements
        changed = {key: pending[key] for key in ("facing", "lock_feet") if key in pending}
        if changed:
            self.config = replace(self.config, **changed)
            if self.playback is not None:
                self.playback.config = self.config
        # Eager constraint terms: compiling them on the first ceiling would stall this character for
        # seconds; eager, a decision with a ceiling takes 22 ms against 19 compiled.
        with torch.no_grad(), eager_terms():
            if pending.get("restart") or self.character is None:
                self.playback = Playback(self.model, self.config, seed)
                course = FlagCourse(None, self.config.arena, self.config.reach, self.playback.rng)
                self.character = Character(self.playback, self.playback.real_start(), course)
                if "flag" in pending:  # placed since the reset
                    course.flag = pending["flag"]
                start = self.character.start_shown.numpy()
                return generation, self._frames(start, [course.flag.copy()] * len(start), [], placements)
            if "lock_feet" in changed:
                self.character.lock_feet(self.config.lock_feet)
            if "flag" in pending:
                self.character.course.flag = pending["flag"]
            began = time.perf_counter()
            step = self.character.step(ceiling)
            self.decision_ms = 1000 * (time.perf_counter() - began)
        return generation, self._frames(step.poses.numpy(), step.flags, step.reached, placements)

    def _frames(self, poses: np.ndarray, flags: list[np.ndarray], reached: list[int], placements: int) -> list[dict]:
        count = self.character.course.reached - len(reached)  # the take's flags reached before these frames
        frames = []
        for offset, (pose, flag) in enumerate(zip(poses, flags)):
            count += offset in reached
            frames.append(
                {
                    "joints": pose,
                    "root": rounded(pose[self.root]),
                    "flag": flag,
                    "reached": count,
                    "placements": placements,
                }
            )
        return frames

    def export(self, format: str) -> dict:
        """The recorded frames as BVH (with joint rotations, on the model's skeleton) or joint CSV text.

        Raises:
            ProtocolError: nothing was recorded.
        """
        if not self.recording:
            raise ProtocolError('export: nothing recorded; send {"type": "record", "on": true} first')
        clip = Clip(np.stack(self.recording).astype(np.float32), self.skeleton, self.fps, "motion serve", "take")
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / f"take.{format}"
            write_clip_bvh(clip, path) if format == "bvh" else write_joint_csv(clip, path)
            text = path.read_text()
        return {"type": "export", "format": format, "name": path.name, "frames": len(clip.positions), "text": text}

    def poses(self, targets: dict, ceiling: float | None) -> dict:
        """The most likely natural poses reaching the targets under the ceiling (motion.posing).

        Raises:
            ProtocolError: no pose model, or a target names a joint the pose model lacks.
        """
        if self.pose_model is None:
            raise ProtocolError("pose: no pose model; start the server with --pose-model")
        joints = pose_skeleton(self.pose_model).joints
        unknown = [name for name in targets if name not in joints]
        if unknown:
            raise ProtocolError(f"pose: unknown joint {unknown[0]!r}; the pose model's joints: {', '.join(joints)}")
        skeleton = pose_skeleton(self.pose_model)
        head = skeleton.joints[preset_roles(skeleton.name)["head"]]
        began = time.perf_counter()
        generator = torch.Generator().manual_seed(self.seed)
        with torch.no_grad():
            found = sample_poses(
                self.pose_model, targets, below=None if ceiling is None else {head: ceiling},
                samples=POSE_SAMPLES, keep=POSES_SHOWN, generator=generator,
            )  # fmt: skip
        return {
            "type": "poses",
            "poses": rounded(found.positions.numpy()),
            "log_likelihood": [round(float(v), 2) for v in found.log_likelihood],
            "ms": round(1000 * (time.perf_counter() - began), 1),
        }
