"""Coordinate, unit and timing conventions, defined once for the whole toolkit.

All motion inside the toolkit is global joint positions in metres, right-handed, Z-up
(the ground is the x-y plane). Readers convert at the file boundary; nothing after them
sees centimetres or Y-up.
"""

import numpy as np

UP_AXIS = 2
"""Index of the vertical axis (z)."""

FORWARD = np.array([1.0, 0.0, 0.0], dtype=np.float32)
"""Facing direction of a normalised segment or window (+x)."""

DEFAULT_FPS = 30.0
"""Frame rate assumed for formats that carry none (LaForge/Unity CSV exports)."""

TRAINING_SKELETON = "laforge20"
"""Joint layout the models train on unless told otherwise (the DRMM paper's layout)."""

UNIT_SCALE = {"m": 1.0, "cm": 0.01, "mm": 0.001}
"""Metres per file unit."""
