"""Fast parsing of whitespace-separated numbers, with a precise error when a token is bad."""

from __future__ import annotations

import warnings

import numpy as np

from motion.errors import InputError


def parse_numbers(text: str, where: str, first_line: int, per_row: int, what: str = "value") -> np.ndarray:
    """Parse rows of whitespace-separated numbers into a (rows, per_row) float32 array.

    The fast path is numpy's C parser over the whole text; only when that fails are the
    lines walked one by one to name the first bad row.

    Args:
        text: the rows, one per line (blank lines ignored).
        where: file name for error messages.
        first_line: 1-based line number of the first row in the file.
        per_row: numbers expected on each row.
        what: what a number is, for error messages ("channel value", ...).
    Returns:
        (rows, per_row) float32.
    Raises:
        InputError: "<where>:<line>: ..." for a row with the wrong count or a non-number.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            values = np.fromstring(text, dtype=np.float32, sep=" ")
        rows = sum(1 for line in text.splitlines() if line.strip())
        if values.size == rows * per_row:
            return values.reshape(rows, per_row)
    except (ValueError, DeprecationWarning):
        pass
    raise _locate_error(text, where, first_line, per_row, what)


def _locate_error(text: str, where: str, first_line: int, per_row: int, what: str) -> InputError:
    for offset, line in enumerate(text.splitlines()):
        tokens = line.split()
        if not tokens:
            continue
        for column, token in enumerate(tokens, start=1):
            try:
                float(token)
            except ValueError:
                return InputError(f"{where}:{first_line + offset}: {what} {column} is {token!r}, not a number")
        if len(tokens) != per_row:
            return InputError(f"{where}:{first_line + offset}: {len(tokens)} {what}s on the row; expected {per_row}")
    return InputError(f"{where}: could not parse the numbers from line {first_line} on")
