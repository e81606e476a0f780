"""The Parquet dataset schema (segments and windows) and its loader.

A dataset is a folder of `part-*.parquet` files sharing one schema: a FixedSizeList<float32>
`features` column plus `clip`, `start`, `split`, `content`, `style`. Each file's schema
metadata (key b"motion", JSON) holds the kind, skeleton, fps, layout, window parameters,
package version and the source files of that part.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import torch

from motion.atomic import atomic_path
from motion.errors import InputError
from motion.layout import SegmentLayout, WindowLayout
from motion.skeleton import Skeleton

METADATA_KEY = b"motion"
FEATURES = "features"
SPLITS = ("train", "val", "test")
KINDS = ("segments", "windows", "poses")  # poses: single frames, a WindowLayout of one frame
DEFAULT_KINDS = ("segments", "windows")  # what `motion preprocess` writes unless told
PART_GLOB = "part-*.parquet"


def schema(width: int, metadata: dict) -> pa.Schema:
    """The dataset schema for feature vectors of `width` float32 values."""
    return pa.schema(
        [
            pa.field(FEATURES, pa.list_(pa.float32(), width), nullable=False),
            pa.field("clip", pa.string(), nullable=False),
            pa.field("start", pa.int32(), nullable=False),
            pa.field("split", pa.dictionary(pa.int8(), pa.string()), nullable=False),
            pa.field("content", pa.string()),
            pa.field("style", pa.string()),
        ],
        metadata={METADATA_KEY: json.dumps(metadata).encode()},
    )


def make_table(
    features: np.ndarray,
    clips: list[str],
    starts: np.ndarray,
    splits: list[str],
    contents: list[str | None],
    styles: list[str | None],
    metadata: dict,
) -> pa.Table:
    """One part's rows as an Arrow table.

    Args:
        features: (rows, width) float32.
        clips, splits, contents, styles: one entry per row.
        starts: (rows,) first frame of each row's window in its clip, at the dataset's fps.
        metadata: the JSON-able dataset description (kind, skeleton, fps, layout, sources, ...).
    """
    rows, width = features.shape
    flat = pa.array(np.ascontiguousarray(features, dtype=np.float32).reshape(-1))
    columns = [
        pa.FixedSizeListArray.from_arrays(flat, width),
        pa.array(clips, pa.string()),
        pa.array(starts, pa.int32()),
        pa.array(splits, pa.string()).dictionary_encode().cast(pa.dictionary(pa.int8(), pa.string())),
        pa.array(contents, pa.string()),
        pa.array(styles, pa.string()),
    ]
    return pa.Table.from_arrays(columns, schema=schema(width, metadata))


def write_part(table: pa.Table, path: Path) -> None:
    """Write a part file atomically (temporary name, then rename)."""
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd", compression_level=1)


@dataclass(frozen=True)
class Dataset:
    """A loaded dataset: features and per-row metadata as numpy arrays.

    Attributes:
        features: (rows, width) float32; segments: width = layout.size (487), metres;
            windows: width = frames * joints * 3, frame-major, metres.
        clip, split, content, style: (rows,) object arrays of str (content/style may be None).
        start: (rows,) int32 first frame of the row in its clip.
        layout: SegmentLayout or WindowLayout.
        skeleton: the joints of every pose.
        fps: frame rate of the rows.
        metadata: the full metadata of the first part, with "sources" merged over all parts.
    """

    features: np.ndarray
    clip: np.ndarray
    start: np.ndarray
    split: np.ndarray
    content: np.ndarray
    style: np.ndarray
    layout: SegmentLayout | WindowLayout
    skeleton: Skeleton
    fps: float
    metadata: dict

    def __len__(self) -> int:
        return self.features.shape[0]

    def tensor(self, device: str | torch.device = "cpu") -> torch.Tensor:
        """The features as a torch tensor; shares memory with `features` on the CPU."""
        return torch.from_numpy(self.features).to(device)


def read_metadata(path: Path) -> dict:
    """The dataset metadata stored in one part file's schema."""
    try:
        raw = pq.read_schema(path).metadata or {}
    except (pa.ArrowInvalid, OSError) as err:
        raise InputError(f"{path}: not a readable Parquet file ({err})") from None
    if METADATA_KEY not in raw:
        raise InputError(f"{path}: no '{METADATA_KEY.decode()}' metadata; not written by motion preprocess")
    return json.loads(raw[METADATA_KEY])


def load_dataset(directory: str | Path, split: str | None = None, kind: str = "segments") -> Dataset:
    """Load every part of a dataset folder, optionally one split only.

    The features are copied once, from Arrow's buffers into one (rows, width) array; rows are in clip
    order, then by start frame, whatever the parts' names.

    Args:
        directory: a folder written by `motion preprocess` (e.g. OUT/segments); given OUT
            itself, its `kind` folder is used.
        split: "train", "val", "test" or None for all rows.
        kind: "segments", "windows" or "poses", the dataset looked for inside OUT.
    Raises:
        InputError: no parts, unreadable parts, or parts that disagree on their layout.
    """
    directory = Path(directory)
    if not list(directory.glob(PART_GLOB)) and (directory / kind).is_dir():
        directory = directory / kind
    parts = sorted(directory.glob(PART_GLOB))
    if not parts:
        raise InputError(f"{directory}: no {PART_GLOB} files; run `motion preprocess` first")
    if split is not None and split not in SPLITS:
        raise InputError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    metadata = read_metadata(parts[0])
    sources: list[str] = []
    tables = []
    for part in parts:
        part_metadata = read_metadata(part)
        if part_metadata["layout"] != metadata["layout"] or part_metadata["skeleton"] != metadata["skeleton"]:
            raise InputError(f"{part}: layout or skeleton differs from {parts[0].name}; the folder mixes datasets")
        sources.extend(part_metadata.get("sources", []))
        table = pq.read_table(part)
        if split is not None:
            table = table.filter(pc.equal(table.column("split").cast(pa.string()), split))
        tables.append(table.cast(tables[0].schema) if tables else table)
    table = pa.concat_tables(tables)
    # Rows in clip order, then by start frame: part names hash the sources' modification times, so
    # the parts' own order differs between checkouts of the same data, and the rows must not.
    clip, start = table.column("clip").to_numpy(), table.column("start").to_numpy()
    order = np.lexsort((start, clip))
    destination = np.empty_like(order)
    destination[order] = np.arange(len(order))
    width = table.schema.field(FEATURES).type.list_size
    features = np.empty((table.num_rows, width), dtype=np.float32)
    row = 0
    for chunk in table.column(FEATURES).chunks:  # scattered into place: no second copy of the features
        features[destination[row : row + len(chunk)]] = chunk.flatten().to_numpy().reshape(-1, width)
        row += len(chunk)

    layout_cls = SegmentLayout if metadata["kind"] == "segments" else WindowLayout
    return Dataset(
        features=features,
        clip=clip[order],
        start=start[order],
        split=table.column("split").cast(pa.string()).to_numpy()[order],
        content=table.column("content").to_numpy()[order],
        style=table.column("style").to_numpy()[order],
        layout=layout_cls.from_dict(metadata["layout"]),
        skeleton=Skeleton.from_dict(metadata["skeleton"]),
        fps=float(metadata["fps"]),
        metadata=metadata | {"sources": sorted(set(sources))},
    )
