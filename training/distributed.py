"""Device choice and the process group for DistributedDataParallel under `torchrun`.

`torchrun --nproc-per-node N motion train ...` sets RANK, WORLD_SIZE and LOCAL_RANK; each
process then joins one group (nccl on GPUs, gloo on CPUs) and trains a replica on its own
batches, DDP averaging the gradients. Without those variables training is one process.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.distributed as dist

from motion.errors import InputError

DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class Topology:
    """Where this process trains."""

    device: torch.device
    rank: int = 0
    world_size: int = 1

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """ "auto" -> cuda when available, else cpu; "cuda" fails clearly when there is none."""
    if name not in DEVICES:
        raise InputError(f"--device must be one of {', '.join(DEVICES)}, got {name!r}")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise InputError("--device cuda: no CUDA device is available (use --device cpu or auto)")
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    return torch.device("cpu")


@contextmanager
def process_group(device_name: str) -> Iterator[Topology]:
    """Join the torchrun process group if launched by torchrun, pick this process's device, and
    leave the group when the block ends (however it ends)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        yield Topology(resolve_device(device_name))
        return
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_name, local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    try:
        yield Topology(device, rank, world_size)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def any_rank(flag: bool, topology: Topology) -> bool:
    """True on every rank when `flag` is true on any (so all ranks stop at the same step)."""
    if not topology.distributed:
        return flag
    value = torch.tensor([float(flag)], device=topology.device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())
