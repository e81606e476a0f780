"""Benchmark `motion serve`: frames per second and the longest gap per session with N sessions at once,
and how soon a new flag shows in the stream, over real WebSocket clients.

    python benchmarks/serve.py [--model motion/assets/models/drmm.pt] [--sessions 4] [--seconds 30]
                               [--screenshot docs/serve.png]

The server runs as `motion serve` in its own process, as a user starts it; the clients run here and
each places a new flag every 2 s (alternating with a head ceiling on and off every 6 s), as a user
steering would. Prints per-session figures, their worst, medians, and the machine; writes
benchmarks/results/serve.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import ROOT, machine

from motion.assets import DRMM_MODEL

FLAG_EVERY = 2.0  # seconds between a client's flags
CEILING_EVERY = 6.0  # seconds between its ceiling on / off


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def client(url: str, seconds: float, seed: int) -> dict:
    """One session: frame arrival times, and the latency of each new flag to a frame showing it."""
    rng = np.random.default_rng(seed)
    arrivals, latencies = [], []
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
        hello = await ws.receive_json()
        assert hello["type"] == "hello", hello
        frame = await ws.receive_json()
        while frame["type"] != "frame":
            frame = await ws.receive_json()
        began = time.perf_counter()
        next_flag, next_ceiling, ceiling_on = began + 1.0, began + CEILING_EVERY, False
        pending = None  # (flag, sent at)
        while (now := time.perf_counter()) - began < seconds:
            if now >= next_flag and pending is None:
                root = frame["root"]
                flag = [round(root[0] + rng.uniform(-4, 4), 4), round(root[1] + rng.uniform(-4, 4), 4)]
                await ws.send_json({"type": "flag", "x": flag[0], "y": flag[1]})
                pending, next_flag = (flag, time.perf_counter()), now + FLAG_EVERY
            if now >= next_ceiling:
                ceiling_on = not ceiling_on
                await ws.send_json({"type": "ceiling", "height": 1.4 if ceiling_on else None})
                next_ceiling = now + CEILING_EVERY
            message = await ws.receive_json()
            if message["type"] != "frame":
                continue
            frame = message
            arrivals.append(time.perf_counter())
            if pending and frame["flag"] == pending[0]:
                latencies.append(time.perf_counter() - pending[1])
                pending = None
    arrivals = np.array(arrivals)
    settled = arrivals[arrivals > arrivals[0] + 1.0]  # after the first second (start-up)
    gaps = np.diff(settled)
    return {
        "frames_per_s": (len(settled) - 1) / (settled[-1] - settled[0]),
        "max_gap_ms": 1000 * float(gaps.max()),
        "p99_gap_ms": 1000 * float(np.percentile(gaps, 99)),
        "flag_shown_ms_median": 1000 * statistics.median(latencies),
        "flag_shown_ms_max": 1000 * max(latencies),
        "flags": len(latencies),
        "reached": frame["reached"],
        "decision_ms_last": frame["decision_ms"],
    }


def screenshot(url: str, path: Path) -> None:
    """The page in headless Chromium (the system's, through Playwright) after a flag was placed."""
    import shutil

    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=shutil.which("chromium"), args=["--use-angle=swiftshader", "--enable-unsafe-swiftshader"]
        )
        page = browser.new_page(viewport={"width": 1100, "height": 620})
        page.goto(url)
        page.wait_for_function("window.motionLive.frames > 30", timeout=30000)
        page.mouse.click(760, 300)
        time.sleep(1.2)
        page.screenshot(path=str(path))
        browser.close()


async def run_clients(url: str, sessions: int, seconds: float) -> list[dict]:
    return await asyncio.gather(*(client(url, seconds, seed) for seed in range(sessions)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=DRMM_MODEL, help="locomotion DRMM")
    parser.add_argument("--sessions", type=int, default=4, help="clients at once")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each session")
    parser.add_argument("--screenshot", type=Path, help="also save a screenshot of the page here (PNG)")
    args = parser.parse_args(argv)
    print(machine())
    port = free_port()
    command = [sys.executable, "-m", "cli.main", "serve", "--model", str(args.model), "--port", str(port),
               "--max-sessions", str(args.sessions)]  # fmt: skip
    server = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = server.stdout.readline()
        if "open http" not in line:
            print(line + server.stdout.read(), file=sys.stderr)
            return 1
        results = asyncio.run(run_clients(f"http://127.0.0.1:{port}/ws", args.sessions, args.seconds))
        if args.screenshot:
            screenshot(f"http://127.0.0.1:{port}/", args.screenshot)
    finally:
        server.terminate()
        server.wait(10)
    print(f"{args.sessions} sessions for {args.seconds:g} s, a new flag every {FLAG_EVERY:g} s each:")
    for number, result in enumerate(results):
        print(f"  session {number}: " + ", ".join(f"{key} {value:.1f}" for key, value in result.items()))
    worst = {
        "frames_per_s": min(r["frames_per_s"] for r in results),
        "max_gap_ms": max(r["max_gap_ms"] for r in results),
        "flag_shown_ms_max": max(r["flag_shown_ms_max"] for r in results),
    }
    medians = {key: statistics.median(r[key] for r in results) for key in results[0]}
    print("worst session: " + ", ".join(f"{key} {value:.1f}" for key, value in worst.items()))
    print("median session: " + ", ".join(f"{key} {value:.1f}" for key, value in medians.items()))
    out = ROOT / "benchmarks" / "results" / "serve.json"
    out.write_text(json.dumps({"machine": machine(), "sessions": results, "worst": worst, "median": medians}, indent=1))
    print(f"wrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
