"""The autoregressive playback loop, goals and goal clipping, rendering (built by the playback issue)."""
