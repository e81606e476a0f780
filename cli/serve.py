"""`motion serve`: steer a DRMM's character live in the browser (playback.server)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cli.common import add_debug_argument, make, parser, run_guarded
from motion.assets import DRMM_MODEL
from playback.server import LiveServer, ServeConfig, serve

DEFAULTS = ServeConfig()


def build_parser() -> argparse.ArgumentParser:
    command = parser(
        "motion serve",
        "Serve a page where you place flags, change goals and constraints, and watch a DRMM's character "
        "respond live. Binds to the loopback address unless --host says otherwise.",
    )
    command.add_argument(
        "--model", type=Path, default=DRMM_MODEL, help="locomotion DRMM checkpoint (default: the shipped one)"
    )
    command.add_argument(
        "--pose-model", type=Path,
        help="a DRMM trained on poses, for the posing tab (e.g. the shipped drmm-pose.pt; default: no tab)",
    )  # fmt: skip
    command.add_argument("--host", default=DEFAULTS.host, help="address to bind (0.0.0.0: every interface)")
    command.add_argument("--port", type=int, default=DEFAULTS.port, help="TCP port")
    command.add_argument("--max-sessions", type=int, default=DEFAULTS.max_sessions, help="characters (tabs) at once")
    command.add_argument(
        "--ahead-frames", type=int, default=DEFAULTS.ahead_frames, help="frames generated ahead of playback per session"
    )
    command.add_argument("--seed", type=int, default=DEFAULTS.seed, help="seed of the first session (then +1 each)")
    add_debug_argument(command)
    return command


def run(args: argparse.Namespace) -> int:
    config = make(
        ServeConfig, host=args.host, port=args.port, max_sessions=args.max_sessions,
        ahead_frames=args.ahead_frames, seed=args.seed,
    )  # fmt: skip
    serve(LiveServer.from_checkpoints(args.model, args.pose_model, config))
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_guarded(run, build_parser().parse_args(argv), "stopped")


if __name__ == "__main__":
    sys.exit(main())
