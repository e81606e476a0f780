"""Shared test paths and data: fixtures in tests/data, the shipped assets (sample clips, models), and the
full real archive in ../shared, which only the tests that need all of it use."""

import zipfile
from pathlib import Path

import pytest

from motion.assets import CLIPS, LOCOMOTION_CLIPS
from preprocessing import PreprocessConfig, preprocess

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
SAMPLE_CLIPS = CLIPS
BANDAI_SAMPLES = CLIPS / "bandai"  # four real Bandai clips with sidecars and label lists
BANDAI_ZIP = ROOT.parent / "shared" / "data" / "bandai-namco-motion-2.zip"
BANDAI_ROOT = "Bandai-Namco-Research-Motiondataset-2/"
LOCOMOTION = ("walk", "walk-turn-left", "walk-turn-right", "run")
WORKERS = 2  # fixed, so the rows come in the same order on any machine and seeded trainings repeat


@pytest.fixture(scope="session")
def bandai_zip() -> Path:
    """The whole archive, for the few tests about all of it; they skip without it."""
    if not BANDAI_ZIP.is_file():
        pytest.skip(f"real mocap archive not found at {BANDAI_ZIP} (see ../shared/data/README.md)")
    return BANDAI_ZIP


@pytest.fixture(scope="session")
def locomotion_bandai_zip() -> Path:
    """The shipped 60 real clips, 15 per locomotion content: enough for a small model to generalise."""
    return LOCOMOTION_CLIPS


@pytest.fixture(scope="session")
def small_bandai_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 real clips, 2 per locomotion content, with their sidecars and label lists, laid out as the archive."""
    out = tmp_path_factory.mktemp("bandai") / "bandai-small.zip"
    with zipfile.ZipFile(LOCOMOTION_CLIPS) as source:
        names = source.namelist()
        picked = []
        for content in LOCOMOTION:
            picked += sorted(n for n in names if f"/dataset-2_{content}_normal_" in n and n.endswith(".bvh"))[:2]
        members = picked + [n[:-4] + ".json" for n in picked]
        members += [BANDAI_ROOT + "cfg/content_label.txt", BANDAI_ROOT + "cfg/style_label.txt"]
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
            for member in members:
                target.writestr(source.getinfo(member), source.read(member))
    return out


@pytest.fixture(scope="session")
def segments(locomotion_bandai_zip: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """DRMM segments (stride 2) of the 60 locomotion clips."""
    out = tmp_path_factory.mktemp("segments")
    config = PreprocessConfig(kinds=("segments",), segment_stride=2)
    assert not preprocess([locomotion_bandai_zip], out, config, workers=WORKERS, progress=False).failures
    return out / "segments"


@pytest.fixture(scope="session")
def windows(locomotion_bandai_zip: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """HG-VAE windows of the 60 locomotion clips."""
    out = tmp_path_factory.mktemp("windows")
    config = PreprocessConfig(kinds=("windows",))
    assert not preprocess([locomotion_bandai_zip], out, config, workers=WORKERS, progress=False).failures
    return out / "windows"
