"""The pytest plugin behind ``wsnb check``: ``pytest -p wsnb.checking.plugin --wsnb-check``.

With ``--wsnb-check`` every collected ``.ipynb`` file becomes a
:class:`~wsnb.checking.items.NotebookFile` (nbval's collector, extended) in
place of nbval's own, one item per code cell plus one after the last cell.
This module imports neither nbval nor the kernel machinery until a
notebook is collected.

Example::

    pytest -p wsnb.checking.plugin --wsnb-check --wsnb-cell-timeout 30 -n 2 notebooks/
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

#: Nothing to import: pytest finds the hooks below by their names.
__all__: list[str] = []

from .session import CELL_TIMEOUT, NOTEBOOK_TIMEOUT


def pytest_addoption(parser: pytest.Parser) -> None:
    """The ``--wsnb-*`` options."""
    group = parser.getgroup("wsnb", "wsnb check: WebSocket notebooks")
    group.addoption(
        "--wsnb-check", action="store_true", help="check notebooks (instead of --nbval)"
    )
    group.addoption(
        "--wsnb-cell-timeout",
        type=float,
        default=CELL_TIMEOUT,
        help=f"seconds a cell may run ({CELL_TIMEOUT:g}; 0: no limit)",
    )
    group.addoption(
        "--wsnb-notebook-timeout",
        type=float,
        default=NOTEBOOK_TIMEOUT,
        help=f"seconds a whole notebook may run ({NOTEBOOK_TIMEOUT:g}; 0: no limit)",
    )
    group.addoption(
        "--wsnb-sanitize",
        action="append",
        metavar="FILE",
        help="sanitize rules applied after wsnb's own (nbval's format; repeatable)",
    )
    group.addoption(
        "--wsnb-executed",
        metavar="DIR",
        help="write each executed notebook under DIR (a CI artefact)",
    )
    group.addoption(
        "--wsnb-kernel",
        metavar="NAME",
        help="kernel to run notebooks with (default: this environment's Python)",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Take over notebooks from nbval, and refuse an xdist mode that splits them."""
    if not config.option.wsnb_check:
        return
    for name in ("nbval", "nbval_lax"):
        if getattr(config.option, name, False):
            setattr(config.option, name, False)  # one collector per notebook: ours
    dist = getattr(config.option, "dist", "no")
    if getattr(config.option, "numprocesses", None) and dist in ("load", "worksteal"):
        raise pytest.UsageError(
            f"--dist {dist} would split one notebook's cells over workers (NameErrors): "
            "use --dist loadfile (wsnb check -n N does)"
        )
    outcomes: dict[str, list[tuple[str, str]]] = defaultdict(list)
    config.stash[_OUTCOMES] = outcomes


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """Collect ``.ipynb`` files under ``--wsnb-check``."""
    if parent.config.option.wsnb_check and file_path.suffix == ".ipynb":
        from .items import NotebookFile

        notebook: pytest.Collector = NotebookFile.from_parent(parent, path=file_path)
        return notebook
    return None


_OUTCOMES = pytest.StashKey[dict[str, list[tuple[str, str]]]]()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Remember each notebook's outcomes for the summary (also from xdist workers)."""
    config = _CONFIG.get("config")
    if config is None or _OUTCOMES not in config.stash:
        return
    notebook = report.nodeid.split("::")[0]
    if notebook.endswith(".ipynb") and (report.when == "call" or report.outcome != "passed"):
        said = dict(report.user_properties).get("wsnb", "")
        config.stash[_OUTCOMES][notebook].append((report.outcome, str(said)))


_CONFIG: dict[str, pytest.Config] = {}


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """Keep the config where the report hook can find it."""
    _CONFIG["config"] = session.config


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """One line per notebook: passed, or the first thing that went wrong."""
    if _OUTCOMES not in config.stash or not config.stash[_OUTCOMES]:
        return
    terminalreporter.section("wsnb check")
    for notebook, outcomes in sorted(config.stash[_OUTCOMES].items()):
        failed = [said or "a cell failed" for outcome, said in outcomes if outcome == "failed"]
        skipped = sum(1 for outcome, _ in outcomes if outcome == "skipped")
        if failed:
            more = f" (+{len(failed) - 1} more)" if len(failed) > 1 else ""
            terminalreporter.write_line(f"FAILED {notebook}: {failed[0]}{more}")
        else:
            ran = sum(1 for outcome, _ in outcomes if outcome == "passed")
            note = f", {skipped} skipped" if skipped else ""
            terminalreporter.write_line(f"passed {notebook}: {ran} checks{note}")
