"""The `motion` command and its subcommands: argument parsing and printing over the typed Python API of
motion, preprocessing, training, playback and evaluation, which it may all import (nothing imports it)."""
