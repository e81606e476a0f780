import zipfile

import pytest

from motion.errors import InputError
from motion.formats import list_sources, read_clips
from tests.conftest import DATA, SAMPLE_CLIPS


def test_zip_members_read_in_place_with_sidecar_labels(tmp_path):
    archive = tmp_path / "lib.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.write(DATA / "lafan1_style.bvh", "lib/data/run_01.bvh")
        out.writestr("lib/data/run_01.json", '{"content": 1, "style": "tired"}')
        out.writestr("lib/cfg/content_label.txt", "ds_walk\nds_run\n")
        out.write(DATA / "two_takes.csv", "lib/data/takes.csv")
        out.writestr("lib/notes.txt", "not motion")
    sources = list_sources([archive])
    assert [s.member for s in sources] == ["lib/data/run_01.bvh", "lib/data/takes.csv"]
    assert sources[0].name == f"{archive}::lib/data/run_01.bvh"
    clips = read_clips(archive)
    assert [c.name for c in clips] == ["run_01", "takes_take1", "takes_take2"]
    assert clips[0].labels == {"content": "run", "style": "tired"}


@pytest.mark.parametrize("member", ["../evil.bvh", "/abs/evil.bvh", "a/../../evil.bvh"])
def test_unsafe_member_names_are_refused(tmp_path, member):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr(member, "HIERARCHY\n")
    with pytest.raises(InputError, match="absolute or contains '..'"):
        list_sources([archive])


def test_folders_are_searched_recursively_and_missing_paths_named(tmp_path):
    """The shipped clips: four BVH files and a LaForge CSV in subfolders, and a zip of 60 clips."""
    sources = list_sources([SAMPLE_CLIPS])
    files = sorted(s.stem for s in sources if s.member is None)
    assert files == [
        "dataset-2_run_normal_033",
        "dataset-2_walk-turn-left_normal_027",
        "dataset-2_walk_normal_011",
        "dataset-2_wave-right-hand_normal_005",
        "walk_run_two_takes",
    ]
    members = [s for s in sources if s.member is not None]
    assert len(members) == 60 and {s.path.name for s in members} == {"bandai-locomotion.zip"}
    with pytest.raises(InputError, match="nope: no such file or folder"):
        list_sources([tmp_path / "nope"])


def test_broken_zip_is_one_clear_error(tmp_path):
    archive = tmp_path / "broken.zip"
    archive.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(InputError, match="broken.zip: not a readable zip archive"):
        list_sources([archive])
