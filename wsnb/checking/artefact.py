"""Notebooks written back: the executed copy for CI to keep, and ``--store``'s update.

:func:`executed_copy` is the notebook as this run left it: each cell that ran
holds its new outputs as they came (unsanitized), a cell that timed out or
saw a background failure gets an extra error output that says so, and the
cells that did not run are cleared. :func:`stored_copy` is what ``--store``
writes: the new outputs sanitized, cells that did not run left as they
were.

Example::

    write_executed(nb, runs, Path("wsnb-executed/notebooks/01_echo.ipynb"))
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .nbfile import new_output, write
from .report import cell_label, failure_text, hang_text
from .sanitize import sanitize_outputs
from .session import CellRun

__all__ = ["artefact_path", "executed_copy", "stored_copy", "write_executed"]


def _note(evalue: str, text: str) -> Any:
    lines = text.splitlines()
    return new_output("error", ename="wsnb check", evalue=evalue, traceback=lines)


def _notes(run: CellRun, label: str) -> list[Any]:
    notes = []
    if run.status in ("timeout", "budget"):
        notes.append(_note(f"timed out after {run.seconds:.1f} s", hang_text(run.hang, label)))
    elif run.status == "died":
        notes.append(_note("the kernel died", ""))
    notes += [_note("a background failure", failure_text(f)) for f in run.failures]
    return notes


def executed_copy(nb: Any, runs: Mapping[int, CellRun]) -> Any:
    """A copy of ``nb`` holding this run's outputs, with notes on what went wrong.

    Example::

        executed = executed_copy(nb, {1: session.run_cell(nb.cells[1].source, "cell 2")})
    """
    executed = copy.deepcopy(nb)
    code_index = 0
    for index, cell in enumerate(executed.cells):
        if cell.cell_type != "code":
            continue
        run = runs.get(index)
        if run is None or run.status == "unrun":
            cell.outputs, cell.execution_count = [], None
        else:
            cell.outputs = [*run.outputs, *_notes(run, cell_label(index, code_index))]
            cell.execution_count = run.execution_count
        code_index += 1
    return executed


def stored_copy(nb: Any, runs: Mapping[int, CellRun], rules: Sequence[tuple[str, str]]) -> Any:
    """A copy of ``nb`` with the sanitized outputs of the cells that ran; the rest as they were.

    Example::

        write(stored_copy(nb, runs, load_rules()), Path("demo.ipynb"))
    """
    stored = copy.deepcopy(nb)
    for index, run in runs.items():
        if run.status != "unrun":
            cell = stored.cells[index]
            cell.outputs = sanitize_outputs(run.outputs, rules)
            cell.execution_count = run.execution_count
    return stored


def artefact_path(directory: Path, notebook: Path, root: Path) -> Path:
    """Where the executed copy of ``notebook`` goes: its path under ``root``, inside ``directory``.

    A notebook outside ``root`` keeps only its name, so that a copy can never
    land on the notebook itself.

    >>> artefact_path(Path("executed"), Path("/work/nb/a.ipynb"), Path("/work")).as_posix()
    'executed/nb/a.ipynb'
    >>> artefact_path(Path("executed"), Path("/elsewhere/a.ipynb"), Path("/work")).as_posix()
    'executed/a.ipynb'
    """
    try:
        relative = notebook.absolute().relative_to(root.absolute())
    except ValueError:
        relative = Path(notebook.name)
    return directory / relative


def write_executed(nb: Any, runs: Mapping[int, CellRun], path: Path) -> None:
    """Write :func:`executed_copy` of ``nb`` to ``path``, creating its folder.

    Example::

        write_executed(nb, runs, Path("executed/demo.ipynb"))
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    write(executed_copy(nb, runs), path)
