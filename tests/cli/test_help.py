"""Every command: `--help` shows each option's default, and `motion` dispatches to the subcommands."""

import argparse

import pytest

from cli import demo, evaluate, export, generate, impute, inspect_clips, pose, preprocess, render, serve, train
from cli.main import SUBCOMMANDS
from cli.main import main as motion

PARSERS = {
    "demo": demo.build_parser,
    "evaluate": evaluate.build_parser,
    "export": export.build_parser,
    "generate": generate.build_parser,
    "impute": impute.build_parser,
    "inspect": inspect_clips.build_parser,
    "pose": pose.build_parser,
    "preprocess": preprocess.build_parser,
    "render": render.build_parser,
    "serve": serve.build_parser,
    "train drmm": train.build_drmm_parser,
    "train hgvae": train.build_hgvae_parser,
    "train mdn": train.build_mdn_parser,
    "train ik": train.build_ik_parser,
    "train avips": train.build_avips_parser,
}


def option_help(parser: argparse.ArgumentParser) -> dict[str, str]:
    """Each optional argument's help as --help prints it, by its first flag."""
    formatter = parser._get_formatter()
    return {
        action.option_strings[0]: formatter._expand_help(action)
        for action in parser._actions
        if action.option_strings and not isinstance(action, argparse._HelpAction)
    }


@pytest.mark.parametrize("command", sorted(PARSERS))
def test_help_shows_every_options_default(command, capsys):
    parser = PARSERS[command]()
    for flag, text in option_help(parser).items():
        action = next(a for a in parser._actions if flag in a.option_strings)
        if action.required:
            continue
        assert "default" in text, f"motion {command} {flag}: {text!r}"
    with pytest.raises(SystemExit) as done:
        parser.parse_args(["--help"])
    assert done.value.code == 0 and "(default: " in capsys.readouterr().out


def test_the_defaults_shown_are_the_configs():
    from training import DRMMTraining, HGVAETraining

    drmm = option_help(train.build_drmm_parser())
    assert drmm["--components"].endswith(f"(default: {DRMMTraining().components})")
    assert drmm["--lr"].endswith(f"(default: {DRMMTraining().schedule.lr})")
    assert option_help(train.build_hgvae_parser())["--batch"].endswith(f"(default: {HGVAETraining().batch})")


def test_motion_lists_and_dispatches_every_subcommand(capsys):
    assert motion(["--help"]) == 0
    listed = capsys.readouterr().out
    assert all(name in listed for name in SUBCOMMANDS)
    assert {name.split()[0] for name in PARSERS} == set(SUBCOMMANDS)
    assert motion(["train", "--help"]) == 0 and "drmm" in capsys.readouterr().out
    assert motion(["nonsense"]) == 2 and "unknown subcommand 'nonsense'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as done:
        motion(["inspect", "--help"])
    assert done.value.code == 0 and "--units" in capsys.readouterr().out
