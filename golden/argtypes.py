"""Argument types of the ``vitsim`` command line: each checks one value as argparse reads it,
so a bad flag is reported (one line naming the flag, exit 2) before any work starts.

``argparse`` turns the :class:`argparse.ArgumentTypeError` raised here into
``vitsim <cmd>: error: argument --flag: <message>``.
"""

from __future__ import annotations

import argparse
import math

__all__ = ["at_least", "finite", "module_name"]


def at_least(lo: int, *, hi: int | None = None):
    """An ``int`` type that refuses values below ``lo`` (and, when given, above ``hi``)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < lo:
            raise argparse.ArgumentTypeError(f"must be at least {lo}, not {value}")
        if hi is not None and value > hi:
            raise argparse.ArgumentTypeError(f"must be at most {hi}, not {value}")
        return value

    parse.__name__ = f"int>={lo}"
    return parse


def finite(*, positive: bool = False, lo: float | None = None, hi: float | None = None):
    """A ``float`` type that refuses nan and inf (and, as asked, values <= 0 or outside
    ``[lo, hi]``)."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number, not {text}")
        if positive and value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, not {text}")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(f"must be in [{lo}, {hi}], not {text}")
        return value

    parse.__name__ = "number"
    return parse


def module_name(text: str) -> str:
    """A Verilog module (and file) name: a letter or ``_``, then letters, digits, ``_``."""
    if not text or not (text[0].isascii() and (text[0].isalpha() or text[0] == "_")) or any(
            not (ch.isascii() and (ch.isalnum() or ch == "_")) for ch in text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a Verilog identifier (letters, "
                                         "digits and _, not starting with a digit)")
    return text
