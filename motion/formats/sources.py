"""Motion sources: files on disk and members of zip archives, listed from files, folders or zips."""

from __future__ import annotations

import os
import posixpath
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from motion.errors import InputError
from motion.formats.labels import find_labels

MOTION_SUFFIXES = (".bvh", ".csv")
ARCHIVE_SEPARATOR = "::"


@dataclass(frozen=True)
class Source:
    """One motion file: a file on disk, or a member of a zip archive read in place.

    Attributes:
        path: the file on disk (the archive, for a member).
        member: '/'-separated name inside the archive, or None.
        size: bytes (uncompressed, for a member).
        mtime: modification time, seconds since the epoch (the member's own time stamp in a zip).
    """

    path: Path
    member: str | None
    size: int
    mtime: float

    @property
    def name(self) -> str:
        """Display name and resume key: "dir/file.bvh" or "lib.zip::data/file.bvh"."""
        return str(self.path) if self.member is None else f"{self.path}{ARCHIVE_SEPARATOR}{self.member}"

    @property
    def stem(self) -> str:
        return Path(self.member if self.member is not None else self.path.name).stem

    @property
    def suffix(self) -> str:
        return posixpath.splitext(self.member if self.member is not None else self.path.name)[1].lower()

    def read(self) -> bytes:
        if self.member is None:
            return self.path.read_bytes()
        return _open_zip(self.path, os.getpid()).read(self.member)

    def labels(self) -> dict[str, str]:
        """Labels from sidecar files beside the source (motion.formats.labels)."""
        if self.member is None:
            return find_labels(self.path.as_posix(), _read_disk_file)
        archive = _open_zip(self.path, os.getpid())
        return find_labels(self.member, lambda name: _read_member(archive, name))


def list_sources(paths: Iterable[str | Path]) -> list[Source]:
    """Every motion file (.bvh, .csv) in the given files, folders (recursively) and zip archives.

    Raises:
        InputError: a path that does not exist, a file that is neither motion nor zip, a
            broken archive, or an archive member whose name is absolute or contains '..'.
    """
    sources: list[Source] = []
    for path in map(Path, paths):
        if path.is_dir():
            for file in sorted(path.rglob("*")):
                if file.is_file() and (file.suffix.lower() in MOTION_SUFFIXES or file.suffix.lower() == ".zip"):
                    sources.extend(_sources_of_file(file))
        elif path.is_file():
            sources.extend(_sources_of_file(path, explicit=True))
        else:
            raise InputError(f"{path}: no such file or folder")
    return sources


def _sources_of_file(path: Path, explicit: bool = False) -> list[Source]:
    if path.suffix.lower() == ".zip" or (explicit and zipfile.is_zipfile(path)):
        return archive_sources(path)
    if explicit or path.suffix.lower() in MOTION_SUFFIXES:
        stat = path.stat()
        return [Source(path, None, stat.st_size, stat.st_mtime)]
    return []


def archive_sources(path: Path) -> list[Source]:
    """The motion members of a zip archive, in archive order."""
    archive = _open_zip(path, os.getpid())
    sources = []
    for info in archive.infolist():
        check_member_name(path, info.filename)
        if not info.is_dir() and posixpath.splitext(info.filename)[1].lower() in MOTION_SUFFIXES:
            mtime = datetime(*info.date_time).timestamp()
            sources.append(Source(path, info.filename, info.file_size, mtime))
    return sources


def check_member_name(archive: Path, member: str) -> None:
    """Refuse member names that could point outside the archive's own tree."""
    parts = member.replace("\\", "/").split("/")
    if member.startswith(("/", "\\")) or (len(member) > 1 and member[1] == ":") or ".." in parts:
        raise InputError(f"{archive}: member name {member!r} is absolute or contains '..'; refusing to read it")


@lru_cache(maxsize=8)
def _open_zip(path: Path, pid: int) -> zipfile.ZipFile:
    """An open archive, cached per process: a forked worker must not share its parent's file offset."""
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as err:
        raise InputError(f"{path}: not a readable zip archive ({err})") from None


@lru_cache(maxsize=64)
def _read_member(archive: zipfile.ZipFile, name: str) -> bytes | None:
    if name not in archive.NameToInfo:
        return None
    return archive.read(name)


@lru_cache(maxsize=64)
def _read_disk_file(name: str) -> bytes | None:
    path = Path(name)
    return path.read_bytes() if path.is_file() else None
