"""The ``vitsim`` command line.

Each command group lives in its own module exposing ``register(subparsers)``, which adds
its sub-commands with ``set_defaults(func=handler)``; a handler takes the parsed
``argparse.Namespace`` and returns an exit status. Handler modules import heavy
libraries (torch, amaranth, cocotb) inside the handlers so that ``vitsim --help`` stays fast.

Bad input raises :class:`golden.errors.VitsimError`; it is printed as one line,
``vitsim: error: <message>``, with exit status 2 (the status argparse uses for usage errors).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from golden.errors import VitsimError

__all__ = ["build_parser", "main"]

#: Modules whose ``register(subparsers)`` adds commands, in help order.
COMMAND_MODULES = (
    "sim.commands",
    "sim.accel_cli",
    "models.cli",
    "models.compress_cli",
    "sim.memory_cli",
    "sim.sweep_cli",
    "sim.board_cli",
)


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage dump, exit 2
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """Return the full ``vitsim`` argument parser."""
    parser = _Parser(
        prog="vitsim",
        description="Hardware simulation and co-design for compressed Vision Transformers.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            # a command group that is not part of this checkout; any other missing
            # module is a real error
            if exc.name is None or not name.startswith(exc.name):
                raise
            continue
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``vitsim`` with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # a usage error (already printed as one line) or --help
        return exc.code if isinstance(exc.code, int) else 2
    try:
        return int(args.func(args) or 0)
    except VitsimError as exc:
        print(f"vitsim: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("vitsim: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
