"""What the benchmarks share: the machine line they print and the shared data they run on."""

from __future__ import annotations

import os
import platform
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BANDAI_ZIP = ROOT.parent / "shared" / "data" / "bandai-namco-motion-2.zip"
LOCOMOTION = ("walk", "walk-turn-left", "walk-turn-right", "run")  # the four locomotion contents


def machine() -> str:
    """CPU, cores, memory, GPU, Python and torch versions, on one line."""
    cpu = platform.processor() or "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        cpu = next(
            (
                line.split(":", 1)[1].strip()
                for line in cpuinfo.read_text().splitlines()
                if line.startswith("model name")
            ),
            cpu,
        )
    if cpuinfo.exists():
        flags = next(
            (line.split(":", 1)[1].split() for line in cpuinfo.read_text().splitlines() if line.startswith("flags")), []
        )
        vectors = [flag for flag in ("avx", "avx2", "fma", "avx512f", "avx512_bf16", "amx_tile") if flag in flags]
        cpu += f" ({' '.join(vectors) or 'no AVX'})"
    memory = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        kib = int(meminfo.read_text().split()[1])
        memory = f", {kib / 2**20:.0f} GiB RAM"
    import torch

    gpu = f", GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ", no GPU"
    kernels = torch.backends.cpu.get_cpu_capability()  # what torch runs: ATEN_CPU_CAPABILITY can lower it
    return (
        f"{cpu}, {os.cpu_count()} cores{memory}{gpu}; Python {platform.python_version()}, torch {torch.__version__} "
        f"({kernels} kernels)"
    )


class Report:
    """A benchmark's lines, printed as they come and written to its results file at the end, the
    machine first: `say = Report(); say("| a | b |"); say.write(path)`."""

    def __init__(self) -> None:
        self.lines = [f"machine: {machine()}", ""]

    def __call__(self, line: str = "") -> None:
        print(line, flush=True)
        self.lines.append(line)

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(self.lines) + "\n")
