"""`motion pose`: the most likely natural full-body poses that reach targets for some joints and keep
others under or above given heights, from a DRMM trained on poses (motion.posing)."""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import torch

from cli.common import add_debug_argument, parser, run_guarded
from motion.assets import POSE_MODEL
from motion.errors import InputError
from motion.models import DRMM
from motion.posing import BOUND_WEIGHT, poses_as_clip, refine_poses, sample_poses, write_pose_csv
from motion.retarget import write_clip_bvh
from playback.render import pose_sheet, write_image

OUTPUTS = (".csv", ".png", ".bvh")


def joint_value(text: str, values: int, flag: str) -> tuple[str, tuple[float, ...]]:
    """ "JOINT=x,y,z" (or "JOINT=h") as (joint, numbers); InputError naming the flag otherwise."""
    joint, equals, numbers = text.partition("=")
    try:
        parsed = tuple(float(number) for number in numbers.split(","))
    except ValueError:
        parsed = ()
    if not equals or not joint or len(parsed) != values or not all(math.isfinite(number) for number in parsed):
        shape = "x,y,z" if values == 3 else "h"
        raise InputError(f"{flag} {text!r}: expected JOINT={shape} in finite metres, e.g. {flag} right_hand=" + (
            "0.3,-0.2,1.5" if values == 3 else "1.6"))  # fmt: skip
    return joint.strip(), parsed


def joint_values(texts: list[str], values: int, flag: str) -> dict[str, tuple[float, ...]]:
    """Every FLAG JOINT=... of a command; InputError when a joint is given twice."""
    result: dict[str, tuple[float, ...]] = {}
    for text in texts:
        joint, parsed = joint_value(text, values, flag)
        if joint in result:
            raise InputError(f"{flag}: {joint} given twice")
        result[joint] = parsed
    return result


def build_parser() -> argparse.ArgumentParser:
    command = parser(
        "motion pose",
        "Sample natural full-body poses reaching joint targets under height bounds, ranked by likelihood. "
        "Coordinates are the pose frame: the root on the floor at the origin, facing +x, z up, metres.",
    )
    command.add_argument("--model", type=Path, default=POSE_MODEL, help="a DRMM trained on poses")
    command.add_argument(
        "--target", action="append", default=[], metavar="JOINT=x,y,z", help="where a joint must be (repeatable)"
    )
    command.add_argument(
        "--below", action="append", default=[], metavar="JOINT=h", help="a joint's height must stay under h"
    )
    command.add_argument(
        "--above", action="append", default=[], metavar="JOINT=h", help="a joint's height must stay over h"
    )
    command.add_argument("--samples", type=int, default=64, help="poses drawn")
    command.add_argument("--keep", type=int, default=10, help="most likely poses kept")
    command.add_argument("--weight", type=float, default=BOUND_WEIGHT, help="multiplier of the height bounds")
    command.add_argument(
        "--refine", action="store_true", help="move the poses onto the targets exactly, keeping bone lengths"
    )
    command.add_argument("--seed", type=int, default=0, help="random seed")
    command.add_argument("--out", required=True, type=Path, help="poses.csv (one row per pose), .png or .bvh")
    add_debug_argument(command)
    return command


def run(args: argparse.Namespace) -> int:
    if args.out.suffix.lower() not in OUTPUTS:
        raise InputError(f"{args.out}: --out must end in {', '.join(OUTPUTS)}")
    if not args.out.parent.is_dir():
        raise InputError(f"{args.out}: no folder {args.out.parent} to write it in")
    targets = joint_values(args.target, 3, "--target")
    below = {joint: value[0] for joint, value in joint_values(args.below, 1, "--below").items()}
    above = {joint: value[0] for joint, value in joint_values(args.above, 1, "--above").items()}
    for joint in below.keys() & above.keys():
        if above[joint] >= below[joint]:
            raise InputError(f"{joint}: --above {above[joint]} and --below {below[joint]} leave no height between them")
    model = DRMM.load(args.model)
    began = time.perf_counter()
    generator = torch.Generator().manual_seed(args.seed)
    poses = sample_poses(
        model, targets, below, above, samples=args.samples, keep=args.keep, weight=args.weight, generator=generator
    )
    sampled = time.perf_counter() - began
    if args.refine:
        poses = refine_poses(poses, targets, below, above)
    suffix = args.out.suffix.lower()
    if suffix == ".csv":
        write_pose_csv(poses, args.out)
    elif suffix == ".png":
        write_image(pose_sheet(poses.skeleton, poses.positions.numpy()), args.out)
    else:
        write_clip_bvh(poses_as_clip(poses), args.out)
    refined = ", refined onto the targets" if args.refine else ""
    print(
        f"wrote {args.out}: {len(poses.positions)} poses of {args.samples} sampled in {sampled * 1000:.0f} ms{refined}"
    )
    for name, point in targets.items():
        index = poses.skeleton.index(name)
        error = (poses.positions[:, index] - torch.tensor(point)).norm(dim=-1)
        print(f"  {name}: {error.mean() * 1000:.1f} mm from its target (mean), {error.max() * 1000:.1f} mm at most")
    for bounds, word, sign in ((below, "under", -1.0), (above, "over", 1.0)):
        for name, height in bounds.items():
            heights = poses.positions[:, poses.skeleton.index(name), 2]
            met = int((sign * (heights - height) >= -1e-3).sum())
            print(
                f"  {name} {word} {height:g} m: {met} of {len(heights)} poses (heights {heights.min():.2f}-{heights.max():.2f} m)"
            )
    distinct = len(torch.unique(poses.positions.flatten(1), dim=0))
    if distinct < len(poses.positions):
        print(f"  only {distinct} distinct poses: the targets and bounds leave the model little room; loosen them")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_guarded(run, build_parser().parse_args(argv), "interrupted")


if __name__ == "__main__":
    sys.exit(main())
