"""``wsnb check --store``: run notebooks and write their sanitized outputs into them.

Unlike ``jupyter nbconvert --execute --inplace``, a cell that raises or times
out does not lose the run: what ran is written, and the summary says which
cells raised, which timed out, and which did not run (those are left as
they were). Cells marked ``NBVAL_SKIP`` are not run.

Example::

    python -m wsnb check --store notebooks/01_echo.ipynb
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .artefact import artefact_path, stored_copy, write_executed
from .nbfile import read, write
from .report import cell_label, failure_text, plural, span
from .sanitize import SanitizeError, load_rules
from .session import CellRun, KernelSession, SessionError

__all__ = ["store_all", "store_notebook"]


def store_all(notebooks: Sequence[Path], args: argparse.Namespace) -> int:
    """Store the notebooks (``args.workers`` at a time); return 1 if any cell failed, else 0.

    Example::

        store_all([Path("demo.ipynb")], parser.parse_args(["check", "--store", "demo.ipynb"]))
    """
    try:
        rules = load_rules(args.sanitize)
    except SanitizeError as exc:
        print(f"wsnb: {exc}", file=sys.stderr)
        return 2

    def store(notebook: Path) -> list[str]:
        try:
            return store_notebook(notebook, args, rules)
        except SessionError as exc:
            return [f"wsnb: {notebook}: not stored: {exc}", ""]

    status = 0
    with ThreadPoolExecutor(max_workers=max(1, args.workers)) as pool:
        for lines in pool.map(store, notebooks):  # each kernel has its own client: threads do
            print("\n".join(line for line in lines if line), flush=True)
            status |= int(len(lines) > 1)
    return status


def store_notebook(
    notebook: Path, args: argparse.Namespace, rules: Sequence[tuple[str, str]]
) -> list[str]:
    """Run ``notebook``, write it back, and return the summary lines (one when all went well).

    Example::

        store_notebook(Path("demo.ipynb"), args, load_rules())
        # ['wsnb: stored demo.ipynb: 3 of 3 code cells ran, all well']
    """
    from nbval.plugin import find_comment_markers, find_metadata_tags  # type: ignore[import-untyped]

    nb = read(notebook)
    session = KernelSession(
        notebook,
        kernel_name=args.kernel,
        cell_timeout=args.cell_timeout or None,
        notebook_timeout=args.notebook_timeout or None,
    )
    session.start()
    runs: dict[int, CellRun] = {}
    problems: list[str] = []
    code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    try:
        for code_index, index in enumerate(code):
            cell = nb.cells[index]
            markers = {
                **dict(find_metadata_tags(cell.metadata)),
                **dict(find_comment_markers(cell.source)),
            }
            if markers.get("skip"):
                continue
            run = runs[index] = session.run_cell(cell.source, cell_label(index, code_index))
            problems += _problems(
                run, cell_label(index, code_index), bool(markers.get("check_exception"))
            )
            if not session.alive or run.status == "unrun":
                break
        if session.alive:
            final = session.finish()
            problems += [failure_text(f) for f in final.failures]
            running = [*final.servers, *final.clients]
            problems += [f"still running after the last cell: {s}" for s in running]
            problems += [f"still listening after the last cell: {p}" for p in final.ports]
    finally:
        session.stop()
    write(stored_copy(nb, runs, rules), notebook)
    if args.executed:
        write_executed(nb, runs, artefact_path(Path(args.executed), notebook, Path.cwd()))
    unrun = [i + 1 for i in code if i not in runs or runs[i].status == "unrun"]
    ran = len(code) - len(unrun)
    head = f"wsnb: stored {notebook}: {ran} of {plural(len(code), 'code cell')} ran"
    if unrun:
        problems.append(
            f"not run, left as they were: {'cell' if len(unrun) == 1 else 'cells'} {span(unrun)}"
        )
    return [head + ("" if problems else ", all well"), *(f"  {p}" for p in problems)]


def _problems(run: CellRun, label: str, error_expected: bool) -> list[str]:
    found = []
    if run.status in ("timeout", "budget"):
        found.append(f"{label} timed out after {run.timeout:g} s; stored what it showed before")
    elif run.status == "died":
        found.append(f"the kernel died while running {label}")
    elif run.error is not None and not error_expected:
        found.append(f"{label} raised {run.error['ename']}: {run.error['evalue']} (stored with it)")
    found += [failure_text(f) for f in run.failures]
    return found
