"""Running ``python -m wsnb check`` on the fixture notebooks, and reading its report.

The fixtures are in tests/check_notebooks/ (written by its build.py). Every
run is a real ``python -m wsnb check`` in a subprocess, with real kernels;
timeouts are a couple of seconds so that the suite stays fast.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

FIXTURES = Path(__file__).parent / "check_notebooks"

#: A cell timeout short enough for tests, long enough for a cell on a busy machine
#: (``import wsnb`` in a kernel took 2 s on these 2 cores with four checks running).
CELL_TIMEOUT = "4"


def run_check(
    *args: str | Path, cwd: Path = FIXTURES, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    """``python -m wsnb check ARGS`` in ``cwd``; its output is a pipe, as in CI.

    Pytest fits its summary lines to ``COLUMNS``, which CI machines set as they
    please; the width is pinned so a count of lines does not depend on it.
    """
    return subprocess.run(
        [sys.executable, "-m", "wsnb", "check", *map(str, args)],
        cwd=cwd,
        env={**os.environ, "COLUMNS": "80"},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def section(report: str, nodeid: str) -> str:
    """The failure report pytest printed for ``nodeid`` (between its ``___`` headings)."""
    heading = re.compile(rf"^_+ {re.escape(nodeid)} _+$", re.MULTILINE)
    match = heading.search(report)
    assert match is not None, f"no failure section for {nodeid}:\n{report}"
    end = re.compile(r"^(_{3,} .* _{3,}|={3,} .* ={3,})$", re.MULTILINE).search(report, match.end())
    return report[match.end() : end.start() if end else len(report)]


def copy_fixture(name: str, folder: Path) -> Path:
    """A copy of a fixture notebook in ``folder`` (for runs that change it)."""
    target = folder / Path(name).name
    shutil.copy(FIXTURES / name, target)
    return target
