"""Clip labels from sidecar files: Bandai-style `<clip>.json` with `cfg/*_label.txt` name lists."""

from __future__ import annotations

import json
import posixpath
from collections.abc import Callable

from motion.errors import InputError

LABEL_KINDS = ("content", "style")

Reader = Callable[[str], bytes | None]
"""Reads a file of the container by its '/'-separated path; None when there is no such file."""


def find_labels(clip_path: str, read: Reader) -> dict[str, str]:
    """Labels of the clip at `clip_path` from its JSON sidecar, names resolved through cfg/ label lists.

    The sidecar is `<clip stem>.json` beside the clip, holding {"content": ..., "style": ...}
    as names or as integer ids. Ids index the lines of `cfg/<kind>_label.txt`, looked for in
    the clip's folder and each folder above it.

    Args:
        clip_path: '/'-separated path of the clip inside its container (a folder or a zip).
        read: reads a container path, None when absent.
    Returns:
        {"content": name, "style": name} for the kinds the sidecar gives; {} without a sidecar.
    """
    sidecar = posixpath.splitext(clip_path)[0] + ".json"
    raw = read(sidecar)
    if raw is None:
        return {}
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputError(f"{sidecar}: label sidecar is not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise InputError(f"{sidecar}: label sidecar should be a JSON object")
    labels = {}
    for kind in LABEL_KINDS:
        value = data.get(kind)
        if value is None:
            continue
        if isinstance(value, str):
            labels[kind] = value
        elif isinstance(value, int):
            labels[kind] = _label_name(clip_path, kind, value, read, sidecar)
        else:
            raise InputError(f"{sidecar}: field {kind!r} should be a name or an integer id, found {value!r}")
    return labels


def _label_name(clip_path: str, kind: str, label_id: int, read: Reader, sidecar: str) -> str:
    folder = posixpath.dirname(clip_path)
    while True:
        list_path = posixpath.join(folder, "cfg", f"{kind}_label.txt")
        raw = read(list_path)
        if raw is not None:
            names = label_names(raw)
            if not 0 <= label_id < len(names):
                raise InputError(f"{sidecar}: {kind} id {label_id} is not in {list_path} ({len(names)} names)")
            return names[label_id]
        if folder in ("", "/"):
            return str(label_id)
        folder = posixpath.dirname(folder)


def label_names(raw: bytes) -> list[str]:
    """Label names, one per line, without a prefix that every name shares up to an underscore.

    Bandai's lists prefix every name with the dataset's ("dataset-2_walk"); users know the
    labels as "walk", which is also what `--contents` filters take.
    """
    names = [line.strip() for line in raw.decode("utf-8").splitlines() if line.strip()]
    prefix = posixpath.commonprefix(names)
    cut = prefix.rfind("_") + 1
    if len(names) > 1 and cut > 0:
        names = [name[cut:] for name in names]
    return names
