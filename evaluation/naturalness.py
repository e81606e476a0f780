"""Naturalness of generated motion that favours no method: how far each second of it lies from the
nearest second of real held-out motion, against the same figure for real held-out clips.

A window (one second) is normalised at its first frame as segments are (the root on the ground at
the origin, facing +x); its feature vector is the positions and velocities of every joint at every
fifth frame, each dimension standardised by its spread over the real windows. A generated window's
figure is its RMS distance per dimension to the nearest real window; the real clips' own figure is
the same with each clip's windows matched against the other clips only, so that a method as natural
as real motion scores about the same.

It asks whether each generated second looks like some real second, not whether a take covers the
variety of real motion: a controller that replayed one real clip would score like real motion.
Read it beside the steering and smoothness figures.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from motion.encoding import character_frame
from motion.geometry import to_local_frame

WINDOW_SECONDS = 1.0
SAMPLE_EVERY = 5
"""Frames between the sampled frames of a window's features."""


def window_features(positions: np.ndarray, fps: float, roles: dict[str, int], stride: int) -> np.ndarray:
    """(windows, features) of every one-second window of a clip, starting every `stride` frames.

    Args:
        positions: (frames, J, 3) global, metres.
    """
    length = int(round(WINDOW_SECONDS * fps))
    clip = torch.as_tensor(positions, dtype=torch.float32)
    starts = torch.arange(0, len(clip) - length, stride)
    if len(starts) == 0:
        return np.zeros((0, 0), np.float32)
    frames = starts[:, None] + torch.arange(0, length + 1, SAMPLE_EVERY)  # + 1: velocities need the next
    windows = clip[frames]  # (windows, samples, J, 3)
    origin, facing = character_frame(windows[:, 0], roles)
    local = to_local_frame(windows.flatten(1, 2), origin, facing).reshape(windows.shape)
    after = clip[(frames + 1).clamp(max=len(clip) - 1)]
    velocity = to_local_frame(after.flatten(1, 2), origin, facing).reshape(windows.shape) - local
    return torch.cat([local.flatten(1), velocity.flatten(1) * fps], 1).numpy()


class Naturalness:
    """The real held-out windows, and distances to them.

    Args:
        clips: real held-out clips, (frames, J, 3) each.
        fps: their rate.
        roles: as motion.skeleton.preset_roles gives them.
        stride: frames between the starts of the real windows.
    """

    def __init__(self, clips: Sequence[np.ndarray], fps: float, roles: dict[str, int], stride: int = 5) -> None:
        self.fps, self.roles = fps, roles
        per_clip = [window_features(clip, fps, roles, stride) for clip in clips]
        self.owner = np.concatenate([np.full(len(f), i) for i, f in enumerate(per_clip)])
        real = np.concatenate([f for f in per_clip if len(f)])
        self.mean, self.scale = real.mean(0), real.std(0) + 1e-6
        self.real = torch.from_numpy((real - self.mean) / self.scale)

    def distances(self, positions: np.ndarray, exclude_clip: int | None = None) -> np.ndarray:
        """(windows,) each one-second window's (stride a second) RMS standardised distance to the nearest real one."""
        features = window_features(positions, self.fps, self.roles, int(round(self.fps)))
        if not len(features):
            return np.zeros(0)
        query = torch.from_numpy((features - self.mean) / self.scale).float()
        squared = torch.cdist(query, self.real.float()).pow(2)
        if exclude_clip is not None:
            squared[:, torch.from_numpy(self.owner == exclude_clip)] = torch.inf
        return (squared.min(1).values / query.shape[1]).sqrt().numpy()

    def real_figure(self, clips: Sequence[np.ndarray]) -> float:
        """The median distance of the real held-out clips' windows to the other clips' windows
        (`clips` in the order given to the constructor)."""
        return float(np.median(np.concatenate([self.distances(clip, i) for i, clip in enumerate(clips)])))
