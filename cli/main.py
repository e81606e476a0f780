"""The `motion` console script: dispatches `motion SUBCOMMAND ...` to that subcommand's main(argv).

Subcommands are named as "module:function" and imported only when run, so `motion --help` starts
fast (without torch).
"""

from __future__ import annotations

import importlib
import sys

SUBCOMMANDS = {
    "demo": ("cli.demo:main", "generate a take and impute a clip with gaps with the shipped models"),
    "preprocess": ("cli.preprocess:main", "cut mocap files into Parquet segments and windows"),
    "inspect": ("cli.inspect_clips:main", "print frames, fps, duration, joints, height and labels of clips"),
    "train": ("cli.train:main", "train a model (drmm, hgvae, mdn, ik, avips) on a dataset or an IK task"),
    "impute": ("cli.impute:main", "fill occluded joint positions in a clip with a trained HG-VAE"),
    "generate": ("cli.generate:main", "generate a take toward flags with a trained DRMM and render it"),
    "render": ("cli.render:main", "render any motion clip to video (mp4 or GIF)"),
    "pose": ("cli.pose:main", "sample natural full-body poses that reach joint targets under height bounds"),
    "export": ("cli.export:main", "write any motion clip as BVH with joint rotations (own, preset or --like skeleton)"),
    "serve": ("cli.serve:main", "steer a DRMM's character live in the browser: flags, facing, ceiling, posing"),
    "evaluate": ("cli.evaluate:main", "measure trained models against the papers: JSON, Markdown, PNG plots"),
}


def usage() -> str:
    rows = "\n".join(f"  {name:<12} {about}" for name, (_, about) in SUBCOMMANDS.items())
    return f"usage: motion SUBCOMMAND [options]\n\nsubcommands:\n{rows}\n\n'motion SUBCOMMAND --help' for its options."


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else 2
    if argv[0] == "--version":
        from motion import __version__

        print(f"motion {__version__}")
        return 0
    if argv[0] not in SUBCOMMANDS:
        print(f"motion: unknown subcommand {argv[0]!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module, _, function = SUBCOMMANDS[argv[0]][0].partition(":")
    return getattr(importlib.import_module(module), function)(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
