"""Where the character is sent: a scripted course of flags or flags that respawn at random."""

from __future__ import annotations

import numpy as np

from motion.errors import InputError

COURSE = "3,0;3,3;0,3;0,0"  # the scripted square course of the playback figures and the demo
SHARP_COURSE = "4,0;0.5,3;4.5,4.5;0,6.5"  # flags 4-5 m apart (7.6 m back to the first), turns of 120-145 degrees


def parse_flags(text: str) -> np.ndarray:
    """Flag positions from "x,y;x,y;..." (metres, ground plane).

    Returns:
        (flags, 2) float64.
    Raises:
        InputError: naming the entry that is not "x,y".
    """
    flags = []
    for number, entry in enumerate(text.split(";"), 1):
        parts = entry.strip().split(",")
        try:
            if len(parts) != 2:
                raise ValueError
            flags.append([float(parts[0]), float(parts[1])])
        except ValueError:
            raise InputError(f"--flags: entry {number} {entry.strip()!r} is not 'x,y' in metres") from None
    if not np.isfinite(flags).all():
        raise InputError("--flags: coordinates must be finite")
    return np.asarray(flags, dtype=np.float64)


class FlagCourse:
    """The current flag, and the next one once the character's root comes within `reach` of it.

    A scripted course cycles through its flags in order; without one, each new flag appears
    at a uniformly random place in the square [-arena, arena]^2, at least `reach` away from
    the character, so that reaching it takes walking.

    Args:
        scripted: (flags, 2) positions, or None for random flags.
        arena: half-width of the square random flags appear in, metres.
        reach: distance of the root (on the ground) to the flag that counts as reaching it, metres.
        rng: numpy generator for the random flags.
    """

    def __init__(self, scripted: np.ndarray | None, arena: float, reach: float, rng: np.random.Generator):
        self.scripted, self.arena, self.reach, self.rng = scripted, arena, reach, rng
        self.reached = 0
        self.flag: np.ndarray | None = None

    def _next_flag(self, root: np.ndarray) -> np.ndarray:
        if self.scripted is not None:
            return self.scripted[self.reached % len(self.scripted)]
        while True:
            flag = self.rng.uniform(-self.arena, self.arena, 2)
            if np.linalg.norm(flag - root) > self.reach:
                return flag

    def update(self, root: np.ndarray) -> bool:
        """Advance to the next flag if `root` (x, y) reached the current one; returns whether it did."""
        if self.flag is None:
            self.flag = self._next_flag(root)
            return False
        if np.linalg.norm(root - self.flag) > self.reach:
            return False
        self.reached += 1
        self.flag = self._next_flag(root)
        return True
