"""Skeletons (joint names and parents), the presets shipped in motion/assets/skeletons, and joint maps between them."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from motion.assets import SKELETONS as SKELETONS_DIR
from motion.errors import InputError


@dataclass(frozen=True)
class Skeleton:
    """Joint names and the parent of each joint.

    Attributes:
        name: preset name ("laforge20", "bandai22", ...) or a name given by the source file.
        joints: joint names, in the order of the joint axis of every position array.
        parents: index of each joint's parent, -1 for a root (or where the source gives no hierarchy).
    """

    name: str
    joints: tuple[str, ...]
    parents: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.joints) != len(self.parents):
            raise InputError(f"skeleton {self.name!r}: {len(self.joints)} joints but {len(self.parents)} parents")
        if len(set(self.joints)) != len(self.joints):
            raise InputError(f"skeleton {self.name!r}: joint names repeat")

    def __len__(self) -> int:
        return len(self.joints)

    def index(self, joint: str) -> int:
        try:
            return self.joints.index(joint)
        except ValueError:
            raise InputError(f"skeleton {self.name!r} has no joint {joint!r}") from None

    def to_dict(self) -> dict:
        return {"name": self.name, "joints": list(self.joints), "parents": list(self.parents)}

    @classmethod
    def from_dict(cls, data: Mapping) -> Skeleton:
        return cls(str(data["name"]), tuple(data["joints"]), tuple(int(p) for p in data["parents"]))


MIRROR_NAMES = (("left", "right"), ("Left", "Right"), ("_L", "_R"), ("L_", "R_"), (".L", ".R"))
"""How joint names mark a body side, each pair (left, right) as written in the presets and common rigs."""


def mirror_joints(skeleton: Skeleton) -> list[int]:
    """Each joint's left-right counterpart, found by name (MIRROR_NAMES: "left_foot" and "right_foot",
    "Foot_L" and "Foot_R"), or the joint itself where it has none (on the midline, or an unmarked name)."""
    mirror = list(range(len(skeleton)))
    for index, name in enumerate(skeleton.joints):
        for left, right in MIRROR_NAMES:
            for side, other in ((left, right), (right, left)):
                counterpart = name.replace(side, other, 1)
                if side in name and counterpart in skeleton.joints and mirror[index] == index:
                    mirror[index] = skeleton.joints.index(counterpart)
    return mirror


@dataclass(frozen=True)
class JointMap:
    """Which source joint supplies each joint of a target skeleton.

    Attributes:
        target: the skeleton produced.
        sources: for each target joint, in target order, the name of the source joint.
    """

    target: Skeleton
    sources: tuple[str, ...]

    def indices(self, source: Skeleton, where: str = "") -> list[int]:
        """Source joint index for each target joint; InputError naming the first missing joint."""
        at = f"{where}: " if where else ""
        index = {name: i for i, name in enumerate(source.joints)}
        missing = [name for name in self.sources if name not in index]
        if missing:
            raise InputError(
                f"{at}joint {missing[0]!r} needed for {self.target.name} is not in skeleton {source.name!r}"
            )
        return [index[name] for name in self.sources]


def _read_json(path: Path, what: str) -> dict:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"{path}: no such {what}") from None
    except json.JSONDecodeError as err:
        raise InputError(f"{path}:{err.lineno}: not valid JSON ({err.msg})") from None


@cache
def _preset_data(name: str) -> dict:
    path = SKELETONS_DIR / f"{name}.json"
    if not path.is_file():
        raise InputError(f"unknown skeleton preset {name!r}; known: {', '.join(preset_names())}")
    return _read_json(path, "skeleton preset")


def preset_names() -> list[str]:
    return sorted(p.stem for p in SKELETONS_DIR.glob("*.json"))


def load_preset(name: str) -> Skeleton:
    """The preset skeleton `name` from the shipped skeletons/NAME.json."""
    data = _preset_data(name)
    return Skeleton(data["name"], tuple(data["joints"]), tuple(data["parents"]))


def preset_roles(name: str) -> dict[str, int]:
    """Indices of the joints that define a character's frame in preset `name`.

    Returns:
        {"root": i, "left_shoulder": i, "right_shoulder": i, "head": i}: the root is projected on
        the ground as the origin, the shoulders give the facing direction, the head its height.
    """
    skeleton = load_preset(name)
    roles = _preset_data(name).get("roles", {})
    needed = ("root", "left_shoulder", "right_shoulder", "head")
    missing = [role for role in needed if role not in roles]
    if missing:
        raise InputError(f"{SKELETONS_DIR / name}.json: no joint for role {missing[0]!r} under 'roles'")
    return {role: skeleton.index(roles[role]) for role in needed}


def preset_rest(name: str) -> dict[str, list[float]] | None:
    """The rest offsets shipped with preset `name` (`rest` in skeletons/NAME.json: joint -> offset from
    its parent, metres, Z-up, facing -y), or None if it ships none."""
    return _preset_data(name).get("rest")


def detect_preset(joints: Sequence[str]) -> str | None:
    """Name of the preset whose joint set equals `joints` (order ignored), or None."""
    wanted = set(joints)
    for name in preset_names():
        if set(_preset_data(name)["joints"]) == wanted:
            return name
    return None


def preset_joint_map(source: str, target: str) -> JointMap:
    """The joint map shipped with preset `source` into preset `target`."""
    if source == target:
        skeleton = load_preset(target)
        return JointMap(skeleton, skeleton.joints)
    mapping = _preset_data(source).get(f"to_{target}")
    if mapping is None:
        raise InputError(f"no joint map from {source} to {target}; pass --joint-map FILE.json")
    return _joint_map(load_preset(target), mapping, f"preset {source}")


def resolve_joint_map(source: Skeleton, target: str, joint_map: str | Path | None, where: str) -> JointMap:
    """The map from a clip's skeleton to preset `target`: the user's JSON file when given,
    else the shipped map of the preset the clip's joints match.

    Raises:
        InputError: the joints match no preset (naming `where`), or no map leads to `target`.
    """
    if joint_map is not None:
        return load_joint_map(joint_map)
    preset = detect_preset(source.joints)
    if preset is None:
        raise InputError(
            f"{where}: skeleton with joints {', '.join(source.joints[:4])}, ... matches no preset; "
            "pass --joint-map FILE.json"
        )
    return preset_joint_map(preset, target)


def load_joint_map(path: str | Path) -> JointMap:
    """A user joint map: JSON `{"target": PRESET, "joints": {target_joint: source_joint, ...}}`.

    Every joint of the target preset must be mapped.
    """
    path = Path(path)
    data = _read_json(path, "joint map")
    if not isinstance(data, dict) or not isinstance(data.get("joints"), dict):
        raise InputError(f'{path}: expected {{"target": PRESET, "joints": {{target_joint: source_joint}}}}')
    return _joint_map(load_preset(str(data.get("target", "laforge20"))), data["joints"], str(path))


def _joint_map(target: Skeleton, mapping: Mapping[str, str], where: str) -> JointMap:
    missing = [joint for joint in target.joints if joint not in mapping]
    if missing:
        raise InputError(f"{where}: joint map gives no source for {target.name} joint {missing[0]!r}")
    return JointMap(target, tuple(str(mapping[joint]) for joint in target.joints))
