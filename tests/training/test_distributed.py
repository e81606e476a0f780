"""DistributedDataParallel: two gloo processes on the CPU keep identical replicas."""

import subprocess
import sys
from pathlib import Path

import torch

WORKER = Path(__file__).with_name("ddp_worker.py")


def test_two_gloo_processes_keep_identical_replicas(tmp_path):
    # --standalone: the launcher's rendezvous store binds a port the system picks and the workers share
    # it, so no port is probed free and then taken by another process before the launch binds it.
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
        str(WORKER),
        str(tmp_path),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    first = torch.load(tmp_path / "rank0.pt", weights_only=True)
    second = torch.load(tmp_path / "rank1.pt", weights_only=True)
    for name, value in first.items():
        torch.testing.assert_close(value, second[name], rtol=0, atol=0, msg=name)
    # Each rank draws its own batches, so the replicas agree only because DDP averaged their gradients.
    assert torch.load(tmp_path / "ddp.pt", weights_only=True)["iteration"] == 30  # written by rank 0 only
