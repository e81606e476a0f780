"""Shared test paths: fixtures in tests/data, shipped assets, and the real mocap archive in ../shared."""

import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
ASSETS = ROOT / "assets"
SAMPLE_CLIPS = ASSETS / "clips"
BANDAI_ZIP = ROOT.parent / "shared" / "data" / "bandai-namco-motion-2.zip"
BANDAI_ROOT = "Bandai-Namco-Research-Motiondataset-2/"
LOCOMOTION = ("walk", "walk-turn-left", "walk-turn-right", "run")


@pytest.fixture(scope="session")
def bandai_zip() -> Path:
    if not BANDAI_ZIP.is_file():
        pytest.skip(f"real mocap archive not found at {BANDAI_ZIP} (see ../shared/data/README.md)")
    return BANDAI_ZIP


def bandai_subset(bandai_zip: Path, out: Path, per_content: int) -> Path:
    """A zip with `per_content` real Bandai clips of each locomotion content, their sidecars and
    label lists, laid out as the original."""
    with zipfile.ZipFile(bandai_zip) as source:
        names = source.namelist()
        picked = []
        for content in LOCOMOTION:
            clips = sorted(n for n in names if f"/dataset-2_{content}_normal_" in n and n.endswith(".bvh"))
            picked += clips[:per_content]
        members = picked + [n[:-4] + ".json" for n in picked]
        members += [BANDAI_ROOT + "cfg/content_label.txt", BANDAI_ROOT + "cfg/style_label.txt"]
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
            for member in members:
                target.writestr(source.getinfo(member), source.read(member))
    return out


@pytest.fixture(scope="session")
def small_bandai_zip(bandai_zip: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 real clips, 2 per locomotion content."""
    return bandai_subset(bandai_zip, tmp_path_factory.mktemp("bandai") / "bandai-small.zip", per_content=2)


@pytest.fixture(scope="session")
def locomotion_bandai_zip(bandai_zip: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """60 real clips, 15 per locomotion content: enough for a small model to generalise."""
    return bandai_subset(bandai_zip, tmp_path_factory.mktemp("bandai") / "bandai-locomotion.zip", per_content=15)


@pytest.fixture(scope="session")
def segments(locomotion_bandai_zip: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """DRMM segments (stride 2) of the 60 locomotion clips."""
    from preprocessing.batch import main as preprocess

    out = tmp_path_factory.mktemp("segments")
    args = [str(locomotion_bandai_zip), "--kind", "segments", "--segment-stride", "2", "--out", str(out)]
    assert preprocess(args) == 0
    return out / "segments"
