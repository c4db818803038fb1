"""The ``check`` subcommand: its options, and what it runs.

Example::

    python -m wsnb check notebooks/ -n 2
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Sequence
from importlib.resources import as_file, files
from typing import Any

__all__ = ["add_check_parser", "run_check"]


def add_check_parser(commands: Any) -> argparse.ArgumentParser:
    """Add ``check`` to ``commands`` (an argparse subparsers object); return its parser.

    Example::

        commands = parser.add_subparsers(dest="command")
        add_check_parser(commands)
    """
    check_cmd: argparse.ArgumentParser = commands.add_parser(
        "check",
        help="run notebooks strictly, as wsnb's CI does",
        description="Execute notebooks with nbval in strict mode (stored outputs must "
        "reproduce) using wsnb's sanitize rules for ports, URLs, timings and object ids. "
        "Arguments after the notebooks go to pytest.",
    )
    check_cmd.add_argument("notebooks", nargs="+", help="notebooks (or folders) to check")
    return check_cmd


def run_check(args: argparse.Namespace, extra: Sequence[str]) -> int:
    """Run the check that ``args`` (parsed by :func:`add_check_parser`) asks for.

    ``extra`` holds the arguments argparse did not know; they go to pytest.
    Returns the exit status.

    Example::

        run_check(parser.parse_args(["check", "notebooks/"]), [])
    """
    with as_file(files("wsnb").joinpath("nbval_sanitize.cfg")) as sanitize:
        command = [
            sys.executable,
            "-m",
            "pytest",
            "--nbval",
            "--nbval-current-env",
            f"--nbval-sanitize-with={sanitize}",
            "--nbval-cell-timeout=120",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:asyncio",
            *extra,
            *args.notebooks,
        ]
        return subprocess.call(command)
