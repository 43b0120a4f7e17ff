"""Errors that the ``vitsim`` command line reports as one clear line and a non-zero exit."""

__all__ = ["VitsimError"]


class VitsimError(Exception):
    """Bad input from a user: a file, field or value that vitsim cannot use.

    The message names the offending file and field; ``vitsim`` prints it as
    ``vitsim: error: <message>`` and exits with status 2.
    """
