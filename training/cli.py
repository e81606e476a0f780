"""`motion train MODEL ...`: dispatches to the model's training command."""

from __future__ import annotations

import importlib
import sys

MODELS = {
    "drmm": ("training.drmm:main", "Deep Residual Mixture Model on segments"),
    "hgvae": ("training.hgvae:main", "hierarchical graph-convolutional VAE on windows"),
    "mdn": ("training.mdn:main", "mixture density network on segments (the DRMM's conditional baseline)"),
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in MODELS:
        rows = "\n".join(f"  {name:<8} {about}" for name, (_, about) in MODELS.items())
        print(f"usage: motion train MODEL [options]\n\nmodels:\n{rows}\n\n'motion train MODEL --help' for its options.")
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    module, _, function = MODELS[argv[0]][0].partition(":")
    return getattr(importlib.import_module(module), function)(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
