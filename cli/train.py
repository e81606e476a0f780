"""`motion train drmm|hgvae|mdn|ik|avips|matching`: train a model on a preprocessed dataset (training.train_drmm, ...)
or, for inverse kinematics, on random configurations of a task (training.train_ik_drmm, train_avips).

Every flag maps onto a field of the model's training config (training.DRMMTraining, HGVAETraining,
MDNTraining, their TrainConfig schedule) or of training.DataSelection, and takes its default from there.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cli.common import add_debug_argument, add_read_arguments, make, parser, read_options, run_guarded, split_list
from motion.errors import InputError
from motion.ik.targets import TARGETS
from motion.ik.tasks import TASKS
from training import (
    DataSelection,
    DRMMTraining,
    HGVAETraining,
    MDNTraining,
    TrainConfig,
    train_drmm,
    train_hgvae,
    train_mdn,
)
from training.avips import VARIANTS, AVIPSTraining, train_avips
from training.distributed import DEVICES
from training.ik import IKTraining, train_ik_drmm
from training.matching import MatchingBuild, build_matching

MODELS = {
    "drmm": "Deep Residual Mixture Model on segments",
    "hgvae": "hierarchical graph-convolutional VAE on windows",
    "mdn": "mixture density network on segments (the DRMM's conditional baseline)",
    "ik": "DRMM on random configurations of an IK task (2-D humanoid or Panda arm)",
    "avips": "aVIPS conditional Gaussian mixture for IK (Panda arm or 2-D humanoid), or its baselines",
    "matching": "motion-matching database of mocap clips (the industry's locomotion baseline)",
}
SELECTION = DataSelection()


def add_data_arguments(command: argparse.ArgumentParser) -> None:
    """--data, --out, --contents, --train-splits, --val-size (training.DataSelection)."""
    command.add_argument("--data", required=True, type=Path, help="dataset folder written by `motion preprocess`")
    command.add_argument("--out", required=True, type=Path, help="checkpoint file to write (log: OUT.csv)")
    command.add_argument("--contents", help="comma-separated content labels to train on (default: all rows)")
    command.add_argument(
        "--train-splits", default=",".join(SELECTION.train_splits),
        help="comma-separated splits to train on, e.g. train,val for a final model",
    )  # fmt: skip
    command.add_argument(
        "--val-size", type=int, default=SELECTION.val_size,
        help="val rows used for validation (0: none; none when val is trained on)",
    )  # fmt: skip


def add_schedule_arguments(command: argparse.ArgumentParser, schedule: TrainConfig, lr_help: str) -> None:
    """--iterations, --batch, --lr, --checkpoint-every, --validate-every: a schedule counted in iterations."""
    command.add_argument("--iterations", type=int, default=schedule.iterations, help="total training iterations")
    command.add_argument(
        "--batch", type=int, default=schedule.batch, help="rows per iteration (per process under torchrun)"
    )
    command.add_argument("--lr", type=float, default=schedule.lr, help=lr_help)
    command.add_argument(
        "--checkpoint-every", type=int, default=schedule.checkpoint_every, help="iterations between checkpoints"
    )
    command.add_argument(
        "--validate-every", type=int, default=schedule.validate_every, help="iterations between validations"
    )


def add_run_arguments(command: argparse.ArgumentParser, seed: int, compile_default: bool) -> None:
    """--seed, --device, --compile, --resume, --export, --overwrite, --debug."""
    command.add_argument("--seed", type=int, default=seed, help="random seed of the initial weights and the batches")
    command.add_argument(
        "--device", default="auto", choices=DEVICES, help="where to train (auto: a GPU when there is one)"
    )
    command.add_argument(
        "--compile", action=argparse.BooleanOptionalAction, default=compile_default, help="torch.compile the step"
    )
    command.add_argument("--resume", action="store_true", help="continue from --out")
    command.add_argument(
        "--export", type=Path, help="when done, also write the model without its training state here (default: none)"
    )
    command.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    add_debug_argument(command)


def selection(args: argparse.Namespace) -> DataSelection:
    contents, splits = split_list(args.contents), split_list(args.train_splits)
    return make(DataSelection, contents=contents, train_splits=splits, val_size=args.val_size)


def schedule(args: argparse.Namespace, base: TrainConfig) -> TrainConfig:
    return make(
        TrainConfig,
        iterations=args.iterations, batch=args.batch, lr=args.lr, seed=args.seed,
        checkpoint_every=args.checkpoint_every, validate_every=args.validate_every, log_every=base.log_every,
        compile=args.compile, grad_clip=getattr(args, "grad_clip", base.grad_clip),
    )  # fmt: skip


# motion train drmm ---------------------------------------------------------------------------

DRMM_DEFAULTS = DRMMTraining()


def build_drmm_parser() -> argparse.ArgumentParser:
    command = parser(
        "motion train drmm",
        "Train a Deep Residual Mixture Model on Parquet segments (DRMM paper, Sec. 3.4). "
        "Launch with torchrun for several GPUs or nodes.",
    )
    add_data_arguments(command)
    command.add_argument("--layers", type=int, default=DRMM_DEFAULTS.layers, help="L, mixture layers")
    command.add_argument("--components", type=int, default=DRMM_DEFAULTS.components, help="K, components per layer")
    add_schedule_arguments(command, DRMM_DEFAULTS.schedule, "Adam learning rate of stages 1-2 (Table 1)")
    command.add_argument(
        "--regularization", type=float, default=DRMM_DEFAULTS.regularization,
        help="orphan-component weight alpha (Table 1: 0.1)",
    )  # fmt: skip
    command.add_argument(
        "--val-passes",
        type=int,
        default=DRMM_DEFAULTS.val_passes,
        help="importance passes S of the validation estimate",
    )
    add_run_arguments(command, DRMM_DEFAULTS.schedule.seed, DRMM_DEFAULTS.schedule.compile)
    return command


def run_drmm(args: argparse.Namespace) -> int:
    config = DRMMTraining(
        layers=args.layers, components=args.components, regularization=args.regularization,
        val_passes=args.val_passes, schedule=schedule(args, DRMM_DEFAULTS.schedule),
    )  # fmt: skip
    train_drmm(
        args.data, args.out, config, selection(args), device=args.device, resume=args.resume,
        overwrite=args.overwrite, export=args.export,
    )  # fmt: skip
    return 0


# motion train hgvae --------------------------------------------------------------------------

HGVAE_DEFAULTS = HGVAETraining()


def build_hgvae_parser() -> argparse.ArgumentParser:
    command = parser(
        "motion train hgvae",
        "Train a hierarchical graph-convolutional VAE on Parquet windows (HG-VAE paper, Sec. 5). "
        "Launch with torchrun for several GPUs or nodes.",
    )
    add_data_arguments(command)
    defaults = HGVAE_DEFAULTS
    command.add_argument("--levels", type=int, default=defaults.levels, help="N, stochastic levels (2..16)")
    command.add_argument(
        "--stochastic-depth", type=int, help="how many bottom levels are stochastic (default: all; Table 1's study)"
    )
    command.add_argument(
        "--features", type=int, default=defaults.features, help="F, width of the deterministic path (Sec. 5: 256)"
    )
    command.add_argument(
        "--latent-size", type=int, default=defaults.latent_size, help="latent values per level (z_0: 1 node x this)"
    )
    command.add_argument(
        "--blocks", type=int, default=defaults.blocks, help="graph-convolutional blocks per level and side"
    )
    command.add_argument(
        "--conditional", action="store_true", help="append the one-hot content label to z_0 (class-conditional)"
    )
    command.add_argument(
        "--epochs", type=int, default=defaults.epochs, help="passes over the training windows (Sec. 5: 5000)"
    )
    command.add_argument(
        "--batch", type=int, default=defaults.batch, help="windows per iteration (per process under torchrun)"
    )
    command.add_argument("--lr", type=float, default=defaults.lr, help="Adam learning rate")
    command.add_argument("--grad-clip", type=float, default=defaults.grad_clip, help="gradient norm clipping threshold")
    command.add_argument(
        "--kl-warmup-epochs", type=float, default=defaults.kl_warmup_epochs, help="epochs of linear KL warm-up"
    )
    command.add_argument(
        "--kl-start", type=float, default=defaults.kl_start, help="KL weight at the start of the warm-up"
    )
    command.add_argument(
        "--checkpoint-every", type=float, default=defaults.checkpoint_every, help="epochs between checkpoints"
    )
    command.add_argument(
        "--validate-every", type=float, default=defaults.validate_every, help="epochs between validations"
    )
    add_run_arguments(command, defaults.seed, defaults.compile)
    return command


def run_hgvae(args: argparse.Namespace) -> int:
    config = make(
        HGVAETraining,
        levels=args.levels, stochastic_depth=args.stochastic_depth, features=args.features,
        latent_size=args.latent_size, blocks=args.blocks, conditional=args.conditional, epochs=args.epochs,
        batch=args.batch, lr=args.lr, grad_clip=args.grad_clip, kl_warmup_epochs=args.kl_warmup_epochs,
        kl_start=args.kl_start, checkpoint_every=args.checkpoint_every, validate_every=args.validate_every,
        seed=args.seed, compile=args.compile,
    )  # fmt: skip
    train_hgvae(
        args.data, args.out, config, selection(args), device=args.device, resume=args.resume,
        overwrite=args.overwrite, export=args.export,
    )  # fmt: skip
    return 0


# motion train mdn ----------------------------------------------------------------------------

MDN_DEFAULTS = MDNTraining()


def build_mdn_parser() -> argparse.ArgumentParser:
    command = parser(
        "motion train mdn",
        "Train a mixture density network (next poses given context and goals) on Parquet segments, "
        "the conditional baseline of the DRMM. Launch with torchrun for several GPUs or nodes.",
    )
    add_data_arguments(command)
    defaults = MDN_DEFAULTS
    command.add_argument("--components", type=int, default=defaults.components, help="K, mixture components")
    command.add_argument("--hidden", type=int, default=defaults.hidden, help="units per hidden layer")
    command.add_argument("--layers", type=int, default=defaults.layers, help="hidden layers")
    command.add_argument(
        "--min-scale", type=float, default=defaults.min_scale, help="floor of each scale, in sd of its variable"
    )
    command.add_argument(
        "--forward-dropout", type=float, default=defaults.forward_dropout,
        help="fraction of rows trained with the forward goal hidden",
    )  # fmt: skip
    add_schedule_arguments(command, defaults.schedule, "Adam learning rate")
    command.add_argument(
        "--grad-clip", type=float, default=defaults.schedule.grad_clip, help="gradient norm clipping threshold"
    )
    add_run_arguments(command, defaults.schedule.seed, defaults.schedule.compile)
    return command


def run_mdn(args: argparse.Namespace) -> int:
    config = MDNTraining(
        components=args.components, hidden=args.hidden, layers=args.layers, min_scale=args.min_scale,
        forward_dropout=args.forward_dropout, schedule=schedule(args, MDN_DEFAULTS.schedule),
    )  # fmt: skip
    train_mdn(
        args.data, args.out, config, selection(args), device=args.device, resume=args.resume,
        overwrite=args.overwrite, export=args.export,
    )  # fmt: skip
    return 0


# motion train ik -----------------------------------------------------------------------------

IK_DEFAULTS = IKTraining()


def add_output_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("--out", required=True, type=Path, help="checkpoint file to write (log: OUT.csv)")


def build_ik_parser() -> argparse.ArgumentParser:
    command = parser(
        "motion train ik",
        "Train a DRMM on random configurations of an IK task (DRMM paper, Sec. 4.1), to sample "
        "solutions for any goals and constraints afterwards.",
    )
    command.add_argument("--task", default=IK_DEFAULTS.task, choices=sorted(TASKS), help="the IK task")
    add_output_arguments(command)
    command.add_argument("--layers", type=int, default=IK_DEFAULTS.layers, help="L, mixture layers")
    command.add_argument("--components", type=int, default=IK_DEFAULTS.components, help="K, components per layer")
    command.add_argument(
        "--observations", type=int, default=IK_DEFAULTS.observations, help="random training vectors drawn"
    )
    add_schedule_arguments(command, IK_DEFAULTS.schedule, "Adam learning rate of stages 1-2 (Table 1)")
    add_run_arguments(command, IK_DEFAULTS.schedule.seed, IK_DEFAULTS.schedule.compile)
    return command


def run_ik(args: argparse.Namespace) -> int:
    config = make(
        IKTraining, task=args.task, layers=args.layers, components=args.components,
        observations=args.observations, schedule=schedule(args, IK_DEFAULTS.schedule),
    )  # fmt: skip
    train_ik_drmm(
        args.out, config, device=args.device, resume=args.resume, overwrite=args.overwrite, export=args.export
    )
    return 0


# motion train avips --------------------------------------------------------------------------

AVIPS_DEFAULTS = AVIPSTraining()


def widths(text: str, flag: str) -> tuple[int, ...]:
    """ "450,450" as (450, 450); InputError naming the flag otherwise."""
    try:
        return tuple(int(width) for width in split_list(text))
    except ValueError:
        raise InputError(f"{flag} {text!r}: expected comma-separated layer widths, e.g. 450,450,450,450") from None


def build_avips_parser() -> argparse.ArgumentParser:
    command = parser(
        "motion train avips",
        "Train an amortised conditional Gaussian mixture for IK by variational inference: aVIPS "
        "(Musekamp 2022, Ch. 3) or its baselines, a plainly trained GMM and a single Gaussian.",
    )
    command.add_argument("--task", default=AVIPS_DEFAULTS.task, choices=sorted(TARGETS), help="the IK task")
    command.add_argument("--variant", default=AVIPS_DEFAULTS.variant, choices=VARIANTS, help="what to train")
    add_output_arguments(command)
    command.add_argument("--components", type=int, default=AVIPS_DEFAULTS.components, help="components at the start")
    command.add_argument(
        "--component-hidden", default=",".join(map(str, AVIPS_DEFAULTS.component_hidden)),
        help="hidden widths of each component's network",
    )  # fmt: skip
    command.add_argument(
        "--gate-hidden", default=",".join(map(str, AVIPS_DEFAULTS.gate_hidden)), help="hidden widths of the gate"
    )
    command.add_argument(
        "--samples", type=int, default=AVIPS_DEFAULTS.samples, help="samples per component and context"
    )
    command.add_argument(
        "--resampled", type=int, default=AVIPS_DEFAULTS.resampled, help="contexts resampled per component"
    )
    command.add_argument("--e-step-every", type=int, default=AVIPS_DEFAULTS.e_step_every, help="iterations per M-step")
    for name, about in (
        ("mean", "a component's mean"),
        ("covariance", "a component's covariance"),
        ("weight", "the weights"),
    ):
        command.add_argument(
            f"--{name}-bound", type=float, default=getattr(AVIPS_DEFAULTS, f"{name}_bound"),
            help=f"trust region of {about} per M-step (KL, nats)",
        )  # fmt: skip
    add_schedule_arguments(command, AVIPS_DEFAULTS.schedule, "Adam learning rate")
    add_run_arguments(command, AVIPS_DEFAULTS.schedule.seed, AVIPS_DEFAULTS.schedule.compile)
    return command


def run_avips(args: argparse.Namespace) -> int:
    config = make(
        AVIPSTraining, task=args.task, variant=args.variant, components=args.components,
        component_hidden=widths(args.component_hidden, "--component-hidden"),
        gate_hidden=widths(args.gate_hidden, "--gate-hidden"),
        samples=args.samples, resampled=args.resampled, e_step_every=args.e_step_every,
        mean_bound=args.mean_bound, covariance_bound=args.covariance_bound, weight_bound=args.weight_bound,
        schedule=schedule(args, AVIPS_DEFAULTS.schedule),
    )  # fmt: skip
    train_avips(args.out, config, device=args.device, resume=args.resume, overwrite=args.overwrite, export=args.export)
    return 0


# motion train matching ------------------------------------------------------------------------

MATCHING_DEFAULTS = MatchingBuild()


def build_matching_parser() -> argparse.ArgumentParser:
    command = parser(
        "motion train matching",
        "Build a motion-matching database (Learned Motion Matching's features) from mocap clips, to play with "
        "`motion generate --model` beside the DRMM.",
    )
    command.add_argument(
        "--data", nargs="+", required=True, metavar="INPUT",
        help="mocap files, folders (searched recursively) or zip archives, as motion preprocess takes them",
    )  # fmt: skip
    command.add_argument("--out", required=True, type=Path, help="database file to write (a checkpoint)")
    command.add_argument("--contents", help="comma-separated content labels to use, e.g. walk,run (default: all)")
    command.add_argument(
        "--splits", default=",".join(MATCHING_DEFAULTS.splits),
        help="comma-separated splits whose clips go in (as preprocessing splits them)",
    )  # fmt: skip
    command.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    add_read_arguments(command)
    add_debug_argument(command)
    return command


def run_matching(args: argparse.Namespace) -> int:
    config = make(
        MatchingBuild, contents=split_list(args.contents), splits=split_list(args.splits), read=read_options(args)
    )
    build_matching(args.data, args.out, config, overwrite=args.overwrite)
    return 0


COMMANDS = {
    "drmm": (build_drmm_parser, run_drmm),
    "hgvae": (build_hgvae_parser, run_hgvae),
    "mdn": (build_mdn_parser, run_mdn),
    "ik": (build_ik_parser, run_ik),
    "avips": (build_avips_parser, run_avips),
    "matching": (build_matching_parser, run_matching),
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        rows = "\n".join(f"  {name:<8} {about}" for name, about in MODELS.items())
        print(f"usage: motion train MODEL [options]\n\nmodels:\n{rows}\n\n'motion train MODEL --help' for its options.")
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    build, run = COMMANDS[argv[0]]
    return run_guarded(run, build().parse_args(argv[1:]), "interrupted before training started")


if __name__ == "__main__":
    sys.exit(main())
