"""Package data: the shipped models (with their card and training logs), the skeleton presets and
the sample clips, found with importlib.resources so that an installed wheel works from any folder.

The environment variable MOTION_ASSETS names another folder laid out alike (models/, skeletons/,
clips/), to try other presets or models without reinstalling.
"""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

# A wheel is always installed unpacked, so the package's resources are plain files on disk.
ASSETS = Path(os.environ.get("MOTION_ASSETS") or str(files(__name__)))
MODELS = ASSETS / "models"
SKELETONS = ASSETS / "skeletons"
CLIPS = ASSETS / "clips"

DRMM_MODEL = MODELS / "drmm.pt"
"""The shipped DRMM: locomotion segments, for playback toward flags."""
POSE_MODEL = MODELS / "drmm-pose.pt"
"""The shipped posing DRMM: single-frame poses of every content, for `motion pose`."""
HGVAE_MODEL = MODELS / "hgvae.pt"
"""The shipped content-conditional HG-VAE: windows of every content, for imputation."""
LOCOMOTION_CLIPS = CLIPS / "bandai-locomotion.zip"
"""60 real Bandai clips, 15 of each locomotion content (normal style), laid out as the archive:
enough for small training runs (the test suite's) without the data download."""
