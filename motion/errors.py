"""The one exception type for bad user input (files, rows, joints, fields, flags)."""


class InputError(ValueError):
    """Bad input, with a message that names the file and the row, joint or field at fault.

    Commands print the message as one line and exit non-zero; no traceback unless --debug.
    """
