"""Benchmark `motion preprocess` on the four locomotion contents of the shared Bandai archive, and the LaForge reader.

Prints the machine, then median wall time, frames/s, segments and peak RSS (summed over the
job's whole process tree) over --repeats runs, and the LaForge CSV reader's seconds per
10k frames. Usage: python benchmarks/preprocess.py [--repeats 3] [--workers N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

from common import BANDAI_ZIP, LOCOMOTION, machine


def tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants (Linux /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry.name))
            rss[int(entry.name)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            continue
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        total += rss.get(current, 0)
        stack.extend(children.get(current, []))
    return total


def timed_run(command: list[str]) -> tuple[float, int, str]:
    """Wall seconds, peak tree RSS in bytes, and stdout of one command."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss(process.pid))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, _ = process.communicate()
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} exited {process.returncode}")
    return wall, peak, stdout


def bench_preprocess(repeats: int, workers: int) -> None:
    walls, peaks, summary = [], [], ""
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as out:
            command = [
                sys.executable,
                "-m",
                "cli.main",
                "preprocess",
                str(BANDAI_ZIP),
                "--contents",
                ",".join(LOCOMOTION),
                "--out",
                out,
                "--kind",
                "segments",
                "--workers",
                str(workers),
            ]
            wall, peak, summary = timed_run(command)
            walls.append(wall)
            peaks.append(peak)
    frames = int(
        next(line for line in summary.splitlines() if line.startswith("clips:")).split("frames:")[1].replace(",", "")
    )
    segments = next(line for line in summary.splitlines() if line.startswith("segments:"))
    wall = statistics.median(walls)
    print(f"preprocess, locomotion subset to segments ({workers} workers, median of {repeats}):")
    print(f"  wall {wall:.2f} s  (runs: {', '.join(f'{w:.2f}' for w in walls)})")
    print(f"  {frames:,} frames, {frames / wall:,.0f} frames/s")
    print(f"  {segments}")
    print(f"  peak RSS of the process tree {statistics.median(peaks) / 2**30:.2f} GiB (max {max(peaks) / 2**30:.2f})")


def bench_laforge_reader(repeats: int) -> None:
    from motion.formats import list_sources, read_source, write_laforge_csv
    from motion.formats.laforge_csv import read_laforge_csv
    from motion.skeleton import preset_joint_map

    joint_map = preset_joint_map("bandai22", "laforge20")
    sources = [s for s in list_sources([BANDAI_ZIP]) if "_walk_" in s.stem][:120]
    clips = [replace(c.remap(joint_map), labels={}) for s in sources for c in read_source(s)]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "laforge.csv"
        write_laforge_csv(clips, str(path))
        frames = sum(c.frames for c in clips)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            takes = read_laforge_csv(path.read_text(), str(path), "bench")
            times.append(time.perf_counter() - start)
        assert sum(t.frames for t in takes) == frames and len(takes) == len(clips)
    per_10k = statistics.median(times) / frames * 10_000
    print(
        f"LaForge CSV reader ({frames:,} frames in {len(clips)} takes): "
        f"{per_10k:.3f} s per 10k frames (median of {repeats})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs to take the median over")
    parser.add_argument("--workers", type=int, default=os.cpu_count(), help="worker processes for preprocess")
    args = parser.parse_args(argv)
    if not BANDAI_ZIP.is_file():
        print(f"needs {BANDAI_ZIP} (see ../shared/data/README.md)", file=sys.stderr)
        return 2
    print(f"machine: {machine()}")
    bench_preprocess(args.repeats, args.workers)
    bench_laforge_reader(max(args.repeats, 5))
    return 0


if __name__ == "__main__":
    sys.exit(main())
