"""What every `motion train MODEL` command shares: the data selection and run-control options,
and the checks on them."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from motion.checkpoint import export_checkpoint
from motion.dataset import SPLITS, Dataset, load_dataset
from motion.errors import InputError
from training.distributed import Topology
from training.trainer import Recipe, TrainConfig, Trainer


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """--data, --out, --contents, --train-splits, --val-size."""
    parser.add_argument("--data", required=True, type=Path, help="dataset folder written by `motion preprocess`")
    parser.add_argument("--out", required=True, type=Path, help="checkpoint file to write (log: OUT.csv)")
    parser.add_argument("--contents", help="comma-separated content labels to train on (default: all rows)")
    parser.add_argument(
        "--train-splits", default="train", help="comma-separated splits to train on, e.g. train,val for a final model"
    )
    parser.add_argument(
        "--val-size", type=int, default=2048, help="val rows used for validation (0: none; none when val is trained on)"
    )


def add_iteration_arguments(parser: argparse.ArgumentParser, lr: float, lr_help: str = "Adam learning rate") -> None:
    """--iterations, --batch, --lr, --checkpoint-every, --validate-every: a schedule counted in iterations."""
    parser.add_argument("--iterations", type=int, default=20000, help="total training iterations")
    parser.add_argument("--batch", type=int, default=256, help="rows per iteration (per process under torchrun)")
    parser.add_argument("--lr", type=float, default=lr, help=lr_help)
    parser.add_argument("--checkpoint-every", type=int, default=1000, help="iterations between checkpoints")
    parser.add_argument("--validate-every", type=int, default=1000, help="iterations between validations")


def add_run_arguments(parser: argparse.ArgumentParser, compile_default: bool) -> None:
    """--seed, --device, --compile, --resume, --export, --overwrite, --debug."""
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="where to train")
    parser.add_argument(
        "--compile", action=argparse.BooleanOptionalAction, default=compile_default, help="torch.compile the step"
    )
    parser.add_argument("--resume", action="store_true", help="continue from --out")
    parser.add_argument(
        "--export", type=Path, help="when done, also write the model without its training state here (to ship it)"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")


def check_output(args: argparse.Namespace) -> None:
    """Refuse to clobber a checkpoint without --overwrite, or to resume a missing one."""
    if args.out.exists() and not (args.resume or args.overwrite):
        raise InputError(f"{args.out} exists; pass --resume to continue it or --overwrite to replace it")
    if args.resume and not args.out.exists():
        raise InputError(f"{args.out}: nothing to resume")


class Selection:
    """The rows a run trains and validates on: --train-splits, --contents and --val-size applied."""

    def __init__(self, args: argparse.Namespace, kind: str) -> None:
        self.contents = [c for c in (args.contents or "").split(",") if c]
        self.splits = [c for c in args.train_splits.split(",") if c]
        unknown = sorted(set(self.splits) - set(SPLITS))
        if unknown or not self.splits:
            raise InputError(f"--train-splits: expected some of {', '.join(SPLITS)}, got {args.train_splits!r}")
        self.data = load_dataset(args.data, kind=kind)
        if self.data.metadata.get("kind") != kind:
            raise InputError(f"{args.data}: holds {self.data.metadata.get('kind')}; this model trains on {kind}")
        self.train = dataset_rows(self.data, self.splits, self.contents)
        self.val = np.zeros(0, dtype=np.int64)
        if args.val_size and "val" not in self.splits:
            val = dataset_rows(self.data, ["val"], self.contents)
            pick = np.random.default_rng(0).permutation(len(val))[: args.val_size]
            self.val = val[np.sort(pick)]

    def settings(self) -> dict:
        """The selection as recipe settings, which a resumed run must share."""
        return {"train_splits": self.splits, "contents": self.contents}

    def extra(self, path: Path) -> dict:
        """Checkpoint entries describing the data: layout, skeleton, rate, source and rows."""
        data = self.data
        return {
            "layout": data.layout.to_dict(),
            "skeleton": data.skeleton.to_dict(),
            "fps": data.fps,
            "data": {"path": str(path), "rows": int(len(self.train))},
        }


def dataset_rows(data: Dataset, splits: list[str], contents: list[str] | None) -> np.ndarray:
    """Indices of the rows of the given splits, optionally only those whose content is in `contents`."""
    keep = np.isin(data.split.astype(str), splits)
    if contents:
        keep &= np.isin(data.content.astype(str), contents)
    return np.flatnonzero(keep)


def train_and_report(
    recipe: Recipe, config: TrainConfig, args: argparse.Namespace, topology: Topology, summary: str
) -> None:
    """Print what is trained, train it into args.out (resuming with --resume), print the outcome."""
    if topology.is_main:
        processes = f" x {topology.world_size} processes" if topology.distributed else ""
        print(f"{summary}, {topology.device}{processes}", file=sys.stderr)
    validation = Trainer(recipe, config, args.out, topology).run(resume=args.resume)
    if topology.is_main:
        figures = ", ".join(f"{k} {v:.2f}" for k, v in validation.items())
        print(f"wrote {args.out}" + (f" ({figures})" if figures else ""), file=sys.stderr)
        if args.export:
            size = export_checkpoint(args.out, args.export)
            print(f"exported {args.export} ({size / 2**20:.1f} MiB)", file=sys.stderr)
