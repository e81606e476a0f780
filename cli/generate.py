"""`motion generate`: a take toward flags with a trained DRMM, or the MDN baseline (playback.Playback), rendered."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from cli.common import parser, run_guarded
from cli.export import add_bvh_arguments, check_bvh_output, rig_map
from cli.render import add_video_arguments, render_config, render_to
from motion.atomic import write_bytes_atomic
from motion.clip import Clip
from motion.errors import InputError
from motion.formats import read_clips, write_joint_csv, write_laforge_csv
from motion.retarget import target_rig, write_clip_bvh
from motion.rig import DEFAULT_ORDER
from playback.flags import parse_flags
from playback.goals import CLIPPING_MODES
from playback.loop import DRMM_CLIPPING, Playback, PlaybackConfig

DEFAULTS = PlaybackConfig()


def parse_ceiling(text: str | None) -> tuple[float, float] | None:
    """--max-head-height "1.4" (constant) or "1.7:1.2" (linear from start to end of the take)."""
    if text is None:
        return None
    try:
        values = [float(v) for v in text.split(":")]
        if len(values) not in (1, 2) or min(values) <= 0:
            raise ValueError
    except ValueError:
        raise InputError(f"--max-head-height {text!r}: expected metres, e.g. 1.4, or START:END, e.g. 1.7:1.2") from None
    return (values[0], values[-1])


def build_parser() -> argparse.ArgumentParser:
    command = parser(
        "motion generate", "Generate a take with a trained DRMM: the character walks to flags; render it to video."
    )
    command.add_argument(
        "--model",
        required=True,
        type=Path,
        help="DRMM checkpoint (motion train drmm), an MDN (motion train mdn) or a motion-matching database (motion train matching)",
    )
    command.add_argument("--seconds", type=float, default=20.0, help="length of the take")
    command.add_argument(
        "--facing", action=argparse.BooleanOptionalAction, default=DEFAULTS.facing,
        help="condition on facing the flag (--no-facing leaves the forward vector unknown)",
    )  # fmt: skip
    command.add_argument("--seed", type=int, default=0, help="random seed")
    command.add_argument(
        "--flags",
        help=f'scripted flags "x,y;x,y;..." in metres, cycled (default: random within +-{DEFAULTS.arena:g} m)',
    )
    command.add_argument(
        "--max-head-height", help="head ceiling in metres, constant (1.4) or START:END (1.7:1.2) (default: none)"
    )
    command.add_argument(
        "--ceiling-weight", type=float, default=DEFAULTS.ceiling_weight,
        help="multiplier of the ceiling constraint against the context",
    )  # fmt: skip
    command.add_argument(
        "--start-from", type=Path, help="start from the first frames of this clip (default: a model sample)"
    )
    command.add_argument(
        "--clipping", choices=CLIPPING_MODES,
        help=f"goal clipping: direction (distance along the direction to the flag), box (App. C), none "
        f"(default: {DRMM_CLIPPING} for a DRMM, none, its only mode, for an MDN)",
    )  # fmt: skip
    command.add_argument(
        "--blend-seams", action=argparse.BooleanOptionalAction, default=DEFAULTS.blend_seams,
        help="join decisions by inertialization (position, velocity and acceleration continue)",
    )  # fmt: skip
    command.add_argument(
        "--lock-feet", action=argparse.BooleanOptionalAction, default=DEFAULTS.lock_feet,
        help="plant toes that touch the floor, legs by two-bone IK",
    )  # fmt: skip
    command.add_argument(
        "--fit-bones", action=argparse.BooleanOptionalAction, default=DEFAULTS.fit_bones,
        help="restore the model's median bone lengths after sampling",
    )  # fmt: skip
    command.add_argument("--positions", type=Path, help="write the generated positions as joint CSV (default: no)")
    command.add_argument("--laforge", type=Path, help="write the generated positions as LaForge CSV (default: no)")
    command.add_argument(
        "--bvh",
        type=Path,
        help="write the take as BVH with joint rotations, on the rig --skeleton or --like name (default: no)",
    )
    add_bvh_arguments(command)
    command.add_argument(
        "--log", type=Path, help="write per-decision logs and the take's metrics as JSON (default: no)"
    )
    command.add_argument("--device", default="cpu", help="torch device, e.g. cuda")
    add_video_arguments(command)
    command.add_argument("--no-video", action="store_true", help="skip rendering (--out still names the take)")
    return command


def run(args: argparse.Namespace) -> int:
    if args.seconds <= 0:
        raise InputError("--seconds must be > 0")
    if not args.no_video:
        render_config(args)  # bad video options fail before the take is generated
    if args.bvh:
        check_bvh_output(args.bvh, "--bvh")
    rig = target_rig(args.skeleton, args.like, args.order)
    joint_map = rig_map(args)
    config = PlaybackConfig(
        facing=args.facing, clipping=args.clipping, blend_seams=args.blend_seams, fit_bones=args.fit_bones,
        lock_feet=args.lock_feet, max_head_height=parse_ceiling(args.max_head_height),
        ceiling_weight=args.ceiling_weight,
    )  # fmt: skip
    flags = parse_flags(args.flags) if args.flags else None
    with torch.no_grad():
        playback = Playback.from_checkpoint(args.model, config, args.seed, args.device)
        start = None
        if args.start_from:
            clips = read_clips([args.start_from])
            if not clips:
                raise InputError(f"{args.start_from}: no clip")
            start = playback.start_frames(clips[0])
        take = playback.run(args.seconds, flags, start, progress=True)
    skeleton, figures = playback.skeleton, playback.figures(take)

    clip = Clip(take.positions, skeleton, take.fps, str(args.model), args.out.stem)
    if args.positions:
        write_joint_csv(clip, args.positions)
    if args.laforge:
        write_laforge_csv([clip], args.laforge)
    if args.bvh:
        write_clip_bvh(clip, args.bvh, rig, args.order or DEFAULT_ORDER, joint_map)
    if args.log:
        log = {"config": take.config, "seed": args.seed, "metrics": figures, "reached_frames": take.reached}
        write_bytes_atomic(args.log, json.dumps(log | {"decisions": take.decisions}, indent=1).encode())
    if not args.no_video:
        render_to(args, skeleton, take.positions, take.fps, take.flags)
    print(
        f"{len(take.positions) / take.fps:.1f} s, {len(take.reached)} flags reached "
        f"({figures['flags_per_minute']:.1f}/min), {figures['decision_ms']:.1f} ms per decision "
        f"({figures['real_time_factor']:.1f}x real time)"
    )
    print("  " + ", ".join(f"{key} {value:.3g}" for key, value in figures.items()))
    written = [
        p
        for p in (None if args.no_video else args.out, args.positions, args.laforge, args.bvh, args.log, args.stills)
        if p
    ]
    if written:
        print("wrote " + ", ".join(str(p) for p in written))
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_guarded(run, build_parser().parse_args(argv), "interrupted")


if __name__ == "__main__":
    sys.exit(main())
