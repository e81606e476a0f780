"""Playback: the autoregressive loop toward flags with goal clipping, seams, foot locking and
constraints, its metrics, and rendering to video; imports motion only."""

from playback.loop import Playback, PlaybackConfig, Take
from playback.render import RenderConfig, Renderer, write_video

__all__ = ["Playback", "PlaybackConfig", "RenderConfig", "Renderer", "Take", "write_video"]
