"""pytest items for ``wsnb check``: one per code cell, and one after the last cell.

They extend nbval's collector and cell items (its markers such as
``# NBVAL_IGNORE_OUTPUT``, its comparison of outputs and its kernel stay
as they are) with what nbval lacks: a hang reported as a hang, background
failures caught in the kernel, hints, outputs side by side, leaks after the
last cell, and the executed notebook written as an artefact.

Imported only when ``--wsnb-check`` collects a notebook (it needs nbval).

Example::

    pytest -p wsnb.checking.plugin --wsnb-check notebooks/
"""

from __future__ import annotations

from collections import OrderedDict, defaultdict
from pathlib import Path
from textwrap import indent
from typing import Any, cast

import pytest
from nbval.plugin import (  # type: ignore[import-untyped]
    IPyNbCell,
    IPyNbFile,
    coalesce_streams,
    find_comment_markers,
    find_metadata_tags,
)

from .artefact import artefact_path, write_executed
from .hints import hints
from .nbfile import read
from .report import (
    cell_label,
    hang_text,
    output_lines,
    plural,
    side_by_side,
    span,
    strip_ansi,
)
from .sanitize import load_rules
from .session import CellRun, KernelSession, SessionError

__all__ = ["CellItem", "CheckFailure", "EndItem", "NotebookFile"]


class CheckFailure(Exception):
    """A cell (or the end of a notebook) failed; the message is the whole report.

    Example::

        raise CheckFailure("cell 4 (code cell 2) timed out after 60 s\n...")
    """


Problem = tuple[str, str]
"""What went wrong: a headline (one line) and its details (a traceback, a stack, a diff)."""


class NotebookFile(IPyNbFile):  # type: ignore[misc]
    """A notebook: its kernel session, its cells, and what happened to each.

    Example (what the plugin does for each ``.ipynb`` file)::

        NotebookFile.from_parent(parent, path=Path("notebooks/01_echo.ipynb"))
    """

    session: KernelSession | None = None

    def setup(self) -> None:
        option = self.config.option
        self.sanitize_patterns = OrderedDict(load_rules(option.wsnb_sanitize or []))
        self.session = KernelSession(
            Path(self.path),
            kernel_name=option.wsnb_kernel,
            cell_timeout=option.wsnb_cell_timeout or None,
            notebook_timeout=option.wsnb_notebook_timeout or None,
            startup_timeout=option.nbval_kernel_startup_timeout,
        )
        try:
            self.session.start()
        except SessionError as exc:
            pytest.fail(f"{self.nodeid}: {exc}", pytrace=False)

    def collect(self) -> Any:
        self.nb = read(Path(self.path))
        self.runs: dict[int, CellRun] = {}
        self.stopped: str | None = None
        self.later: list[pytest.Item] = []
        self.code_cells = [i for i, c in enumerate(self.nb.cells) if c.cell_type == "code"]
        for code_index, index in enumerate(self.code_cells):
            cell = self.nb.cells[index]
            options: dict[str, Any] = defaultdict(bool, find_metadata_tags(cell.metadata))
            options.update(find_comment_markers(cell.source))
            options.setdefault("check", True)
            item = CellItem.from_parent(
                self, name=f"cell {index + 1}", cell_num=code_index, cell=cell, options=options
            )
            item.index, item.label = index, cell_label(index, code_index)
            if options["skip"]:
                item.add_marker(pytest.mark.skip(reason="NBVAL_SKIP"))
            self.later.append(item)
            yield item
        end = EndItem.from_parent(self, name="after the last cell")
        self.later.append(end)
        yield end

    def stop_after(self, index: int, why: str) -> str:
        """Mark every item after cell ``index`` as not run, because of ``why``; say which."""
        later = [i + 1 for i in self.code_cells if i > index]
        cells = f"{'cell' if len(later) == 1 else 'cells'} {span(later)}, and " if later else ""
        self.stopped = f"not run: {cells}the check after the last cell ({why})"
        for item in self.later:
            if getattr(item, "index", len(self.nb.cells)) > index:
                item.add_marker(pytest.mark.skip(reason=self.stopped))
        return f"Not run: {cells}the check after the last cell."

    def teardown(self) -> None:
        if self.session is not None:
            self.session.stop()
        directory = self.config.option.wsnb_executed
        if directory and getattr(self, "runs", None):
            target = artefact_path(Path(directory), Path(self.path), Path(self.config.rootpath))
            write_executed(self.nb, self.runs, target)


class CellItem(IPyNbCell):  # type: ignore[misc]
    """One code cell: run it, then say everything that went wrong, in one report.

    Its node id is ``NOTEBOOK::cell N``, N counted from 1 at the top, markdown
    included (a cell depends on those before it: run the notebook, not one cell)::

        pytest -p wsnb.checking.plugin --wsnb-check notebooks/01_echo.ipynb --co -q
        # notebooks/01_echo.ipynb::cell 3, ...::cell 5, ..., ...::after the last cell
    """

    index = 0
    label = ""

    def runtest(self) -> None:
        session = self.parent.session
        assert session is not None
        run = session.run_cell(self.cell.source, self.label)
        self.parent.runs[self.index] = run
        if run.status == "unrun":
            why = f"the notebook's budget of {run.timeout:g} s ran out before {self.label}"
            self.parent.stop_after(self.index - 1, why)
            pytest.skip(self.parent.stopped)
        problems = [self._ended(run)] if run.status in ("timeout", "budget", "died") else []
        if run.error is not None and not self.options["check_exception"]:
            problems.append(self._error(run.error))
        problems += [self._background(f) for f in run.failures]
        if not problems and self.options["check"] and self.cell.execution_count is not None:
            problems += self._compare(run)
        if problems:
            self._fail(run, problems)

    def _ended(self, run: CellRun) -> Problem:
        if run.status == "died":
            return f"the kernel died while running {self.label}{_exit(run)}", ""
        if run.status == "budget":
            budget = self.config.option.wsnb_notebook_timeout
            head = f"{self.label} timed out: the notebook's budget of {budget:g} s ran out"
        else:
            head = f"{self.label} timed out after {run.timeout:g} s"
        return head, hang_text(run.hang, self.label)

    def _error(self, error: dict[str, Any]) -> Problem:
        traceback = strip_ansi("\n".join(error.get("traceback", [])))
        return f"{self.label} raised {error['ename']}: {error['evalue']}", traceback

    def _background(self, failure: dict[str, Any]) -> Problem:
        when = "" if failure["cell"] == self.label else f" (during {failure['cell']})"
        head = f"{self.label}: an exception in {failure['source']}{when}: {failure['error']}"
        return head, indent(strip_ansi(failure["text"]).rstrip(), "  ")

    def _compare(self, run: CellRun) -> list[Problem]:
        new, stored = coalesce_streams(run.outputs), coalesce_streams(self.cell.outputs)
        if self.compare_outputs(new, stored):
            return []
        left = output_lines(self.sanitize_outputs(stored))
        right = output_lines(self.sanitize_outputs(new))
        head = f"{self.label}: its outputs differ from those stored (both sanitized)"
        return [(head, side_by_side(left, right))]

    def _fail(self, run: CellRun, problems: list[Problem]) -> None:
        text = "\n".join(f"{head}\n{details}" for head, details in problems)
        stderr = "".join(o.get("text", "") for o in run.outputs if o.get("name") == "stderr")
        hang = (run.hang or {"stack": ""}) if run.status in ("timeout", "budget") else None
        lines = hints(f"{text}\n{stderr}", source=self.cell.source, hang=hang)
        if run.status in ("timeout", "budget", "died"):
            lines.append(self.parent.stop_after(self.index, problems[0][0]))
        source = indent(self.cell.source, "    ") or "    (empty)"
        first, details = problems[0]
        rest = [f"{head}\n{more}" for head, more in problems[1:]]
        report = "\n".join(
            p.rstrip() for p in [first, f"  input:\n{source}", details, *rest, *lines] if p
        )
        self.user_properties.append(("wsnb", first))
        raise CheckFailure(report)

    def repr_failure(self, excinfo: Any, style: Any = None) -> str:
        if isinstance(excinfo.value, CheckFailure):
            return _colour(self.config, str(excinfo.value))
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Any, int, str]:
        return self.path, 0, self.nodeid


class EndItem(pytest.Item):
    """After the last cell: background failures, unretrieved task errors, servers left open.

    Its node id is ``NOTEBOOK::after the last cell``::

        pytest -p wsnb.checking.plugin --wsnb-check notebooks/ -k "after the last cell"
    """

    @property
    def notebook(self) -> NotebookFile:
        """The notebook this item ends."""
        return cast(NotebookFile, self.parent)

    def runtest(self) -> None:
        session = self.notebook.session
        assert session is not None
        final = session.finish()
        problems: list[Problem] = []
        for failure in final.failures:
            source, cell, error = failure["source"], failure["cell"], failure["error"]
            head = f"after the last cell: an exception in {source} (during {cell}): {error}"
            problems.append((head, indent(strip_ansi(failure["text"]).rstrip(), "  ")))
        if final.servers:
            head = f"after the last cell: {plural(len(final.servers), 'wsnb server')} still running"
            problems.append((head, "\n".join(f"  {s}" for s in final.servers)))
        if final.clients:
            head = f"after the last cell: {plural(len(final.clients), 'wsnb client')} still running"
            problems.append((head, "\n".join(f"  {c}" for c in final.clients)))
        if final.ports:
            head = f"after the last cell: still listening on {', '.join(final.ports)}"
            problems.append((head, "  (a server wsnb did not start, or a socket a cell left open)"))
        if not problems:
            return
        text = "\n".join(f"{head}\n{details}" for head, details in problems)
        lines = hints(text)
        if final.servers or final.clients or final.ports:
            lines.append(
                "hint: a notebook should stop what it starts: `await wsnb.stop_all()` "
                "(or `server.close(); await server.wait_closed()`) in the last cell"
            )
        self.user_properties.append(("wsnb", problems[0][0]))
        raise CheckFailure("\n".join([text, *lines]))

    def repr_failure(self, excinfo: Any, style: Any = None) -> str:
        if isinstance(excinfo.value, CheckFailure):
            return _colour(self.config, str(excinfo.value))
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Any, int, str]:
        return self.path, 0, self.nodeid


def _exit(run: CellRun) -> str:
    return "" if run.exit_code is None else f" (exit status {run.exit_code})"


def _colour(config: pytest.Config, text: str) -> str:
    """Colour codes only on a terminal: ``--color=no``, or auto without a TTY, strips them."""
    writer = config.get_terminal_writer()
    if config.option.color == "no" or (config.option.color != "yes" and not writer.hasmarkup):
        return strip_ansi(text)
    return text
