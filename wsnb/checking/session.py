"""One notebook's kernel, driven cell by cell, with the probe watching inside it.

:class:`KernelSession` starts a kernel (nbval's :class:`~nbval.kernel.RunningKernel`:
the environment's own Python by default), sends it :mod:`wsnb.checking.probe`,
and then runs cells one at a time with a per-cell timeout and a budget for
the whole notebook. Each :class:`CellRun` holds the outputs as Jupyter would
store them (``clear_output`` and display updates applied), how the cell
ended, and the background failures the probe saw meanwhile. A cell that
runs out of time is not interrupted (an interrupt often does not reach an
awaiting cell, and what it leaves behind cannot be trusted): the probe's
snapshot of where it hung is read and the kernel is shut down.

Example::

    session = KernelSession(Path("demo.ipynb"), cell_timeout=5, notebook_timeout=60)
    session.start()
    run = session.run_cell("print(6 * 7)", "cell 1 (code cell 1)")
    final = session.finish()
    session.stop()
"""

from __future__ import annotations

import ast
import json
import tempfile
import time
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from queue import Empty
from typing import Any, Literal

from .nbfile import output_from_msg

__all__ = [
    "CELL_TIMEOUT",
    "NOTEBOOK_TIMEOUT",
    "CellRun",
    "FinalRun",
    "KernelSession",
    "SessionError",
]

Status = Literal["ok", "error", "timeout", "budget", "died", "unrun"]

#: Defaults: a cell that waits a minute in CI is stuck; a notebook gets ten.
CELL_TIMEOUT = 60.0
NOTEBOOK_TIMEOUT = 600.0
#: How long past a cell's timeout the checker waits for the probe's snapshot.
GRACE = 1.0
#: How long a probe call (between cells) may take.
PROBE_TIMEOUT = 20.0
_PROBE = "_wsnb_check_probe"


class SessionError(Exception):
    """The kernel could not be started or probed; the message says why.

    Example::

        try:
            session.start()
        except SessionError as exc:
            print(exc)   # the kernel did not start: ...
    """


@dataclass
class CellRun:
    """How one cell ran: its outputs, how it ended, what happened in the background.

    ``status`` is "ok", "error" (it raised), "timeout", "budget" (the
    notebook's time ran out), "died" (the kernel) or "unrun" (no time left).

    Example::

        run = session.run_cell("print(6 * 7)", "cell 1 (code cell 1)")
        run.status, run.outputs[0]["text"]   # ('ok', '42\\n')
    """

    outputs: list[Any]
    execution_count: int | None
    status: Status
    seconds: float
    timeout: float | None
    error: dict[str, Any] | None = None
    hang: dict[str, Any] | None = None
    failures: list[dict[str, Any]] = field(default_factory=list)
    exit_code: int | None = None


@dataclass
class FinalRun:
    """What the probe found after the last cell.

    Example::

        final = session.finish()
        final.servers, final.ports   # (['echo ws://127.0.0.1:40113 (0 connections)'], [])
    """

    failures: list[dict[str, Any]]
    servers: list[str]
    ports: list[str]
    clients: list[str] = field(default_factory=list)


class _Outputs:
    """Outputs as a notebook front end stores them, built from iopub messages."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self._clear_on_next = False
        self._displays: dict[str, list[int]] = {}

    def add(self, msg: dict[str, Any]) -> None:
        kind, content = msg["msg_type"], msg["content"]
        if kind == "clear_output":
            if content.get("wait"):
                self._clear_on_next = True
            else:
                self._clear()
            return
        if kind == "update_display_data":
            for index in self._displays.get(content.get("transient", {}).get("display_id"), []):
                self.items[index]["data"] = content["data"]
                self.items[index]["metadata"] = content["metadata"]
            return
        if kind not in ("stream", "display_data", "execute_result", "error"):
            return
        if self._clear_on_next:
            self._clear()
        output = output_from_msg(msg)
        last = self.items[-1] if self.items else None
        if kind == "stream" and last is not None and last.get("name") == output["name"]:
            last["text"] += output["text"]
            return
        display_id = content.get("transient", {}).get("display_id")
        if display_id:
            self._displays.setdefault(display_id, []).append(len(self.items))
        self.items.append(output)

    def _clear(self) -> None:
        self.items, self._clear_on_next, self._displays = [], False, {}


class KernelSession:
    """A kernel for one notebook, run cell by cell under the probe's watch.

    Example::

        session = KernelSession(Path("demo.ipynb"), cell_timeout=5)
        session.start()
        session.run_cell("import wsnb", "cell 1 (code cell 1)")
        session.stop()
    """

    def __init__(
        self,
        notebook: Path,
        *,
        kernel_name: str | None = None,
        cell_timeout: float | None = CELL_TIMEOUT,
        notebook_timeout: float | None = NOTEBOOK_TIMEOUT,
        startup_timeout: float = 60.0,
    ) -> None:
        self.notebook = notebook
        self.kernel_name = kernel_name
        self.cell_timeout = cell_timeout
        self.notebook_timeout = notebook_timeout
        self.startup_timeout = startup_timeout
        self.alive = False
        self._kernel: Any = None
        self._started = 0.0
        self._dir = tempfile.TemporaryDirectory(prefix="wsnb-check-")
        self._snapshot = Path(self._dir.name) / "hang.json"

    # the kernel ------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the kernel in the notebook's folder and install the probe."""
        from nbval.kernel import (  # type: ignore[import-untyped]
            CURRENT_ENV_KERNEL_NAME,
            RunningKernel,
        )

        try:
            self._kernel = RunningKernel(
                self.kernel_name or CURRENT_ENV_KERNEL_NAME,
                cwd=str(self.notebook.parent),
                startup_timeout=self.startup_timeout,
            )
        except Exception as exc:
            raise SessionError(f"the kernel did not start: {exc}") from exc
        self.alive = True
        self._started = time.monotonic()
        source = files("wsnb.checking").joinpath("probe.py").read_text(encoding="utf-8")
        bootstrap = (
            "import sys, types\n"
            f"m = types.ModuleType({_PROBE!r})\n"
            f"sys.modules[{_PROBE!r}] = m\n"
            f"exec(compile({source!r}, '<wsnb check probe>', 'exec'), m.__dict__)\n"
        )
        # exec in a fresh namespace: nothing lands in the notebook's own names.
        self._silent(f"exec({bootstrap!r}, {{}})")
        self._call("install", str(self._snapshot))

    def stop(self) -> None:
        """Shut the kernel down (at once) and remove the session's temporary files."""
        if self._kernel is not None and self.alive:
            self.alive = False
            try:
                self._kernel.stop()
            except Exception:  # already gone: nothing left to stop
                pass
        self._dir.cleanup()

    @property
    def elapsed(self) -> float:
        """Seconds since the kernel started."""
        return time.monotonic() - self._started

    # cells -----------------------------------------------------------------------------------

    def run_cell(self, source: str, label: str) -> CellRun:
        """Run one cell; ``label`` names it in the probe's reports ("cell 3 (code cell 2)")."""
        timeout, budget = self._timeout()
        if timeout is not None and timeout <= 0:
            return CellRun([], None, "unrun", 0.0, self.notebook_timeout)
        self._snapshot.unlink(missing_ok=True)
        self._call("arm", label, timeout)
        kc = self._kernel.kc
        start = time.monotonic()
        msg_id = kc.execute(source, store_history=True, allow_stdin=False, stop_on_error=False)
        deadline = None if timeout is None else start + timeout + GRACE
        outputs = _Outputs()
        ended = self._collect(msg_id, deadline, outputs)
        seconds = time.monotonic() - start
        if ended != "idle":
            return self._lost(ended, outputs, seconds, timeout, budget)
        reply = self._reply(msg_id, PROBE_TIMEOUT)
        error = next((o for o in outputs.items if o["output_type"] == "error"), None)
        failures = json.loads(self._call("report"))["failures"]
        return CellRun(
            outputs.items,
            reply.get("execution_count"),
            "error" if error is not None else "ok",
            seconds,
            timeout,
            error=error,
            failures=failures,
        )

    def finish(self, settle: float = 0.25) -> FinalRun:
        """After the last cell: let background work run ``settle`` seconds, then ask the probe."""
        time.sleep(settle)
        found = json.loads(self._call("final"))
        return FinalRun(found["failures"], found["servers"], found["ports"], found["clients"])

    def _timeout(self) -> tuple[float | None, bool]:
        """This cell's timeout, and whether it is the notebook's budget that sets it."""
        left = None if self.notebook_timeout is None else self.notebook_timeout - self.elapsed
        if left is not None and (self.cell_timeout is None or left < self.cell_timeout):
            return left, True
        return self.cell_timeout, False

    def _lost(
        self, ended: str, outputs: _Outputs, seconds: float, timeout: float | None, budget: bool
    ) -> CellRun:
        """The cell did not finish: read where it hung, then end the kernel."""
        hang = None
        if ended == "timeout":
            for _ in range(20):
                if self._snapshot.exists():
                    break
                time.sleep(0.05)
            try:
                hang = json.loads(self._snapshot.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                hang = None
        status: Status = "died" if ended == "died" else ("budget" if budget else "timeout")
        failures = hang.get("failures", []) if hang else []
        process = getattr(getattr(self._kernel.km, "provisioner", None), "process", None)
        code = process.poll() if process is not None else None
        self.stop()
        run = CellRun(outputs.items, None, status, seconds, timeout, hang=hang, failures=failures)
        run.exit_code = code if ended == "died" else None
        return run

    # messages --------------------------------------------------------------------------------

    def _collect(self, msg_id: str, deadline: float | None, outputs: _Outputs | None) -> str:
        """Read iopub until the kernel is idle for ``msg_id``: "idle", "timeout" or "died"."""
        kc = self._kernel.kc
        while True:
            wait = 1.0 if deadline is None else max(0.0, min(1.0, deadline - time.monotonic()))
            try:
                msg = kc.get_iopub_msg(timeout=wait)
            except Empty:
                if not self._kernel.is_alive():
                    return "died"
                if deadline is not None and time.monotonic() >= deadline:
                    return "timeout"
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                return "idle"
            if outputs is not None:
                outputs.add(msg)

    def _reply(self, msg_id: str, timeout: float) -> dict[str, Any]:
        kc = self._kernel.kc
        deadline = time.monotonic() + timeout
        while True:
            try:
                msg = kc.get_shell_msg(timeout=max(0.0, deadline - time.monotonic()))
            except Empty:
                raise SessionError("the kernel did not reply") from None
            if msg["parent_header"].get("msg_id") == msg_id:
                content: dict[str, Any] = msg["content"]
                return content

    def _silent(self, code: str, expressions: dict[str, str] | None = None) -> dict[str, Any]:
        kc = self._kernel.kc
        msg_id = kc.execute(
            code, silent=True, store_history=False, user_expressions=expressions or {}
        )
        if self._collect(msg_id, time.monotonic() + PROBE_TIMEOUT, None) != "idle":
            raise SessionError("the kernel stopped answering the checker")
        reply = self._reply(msg_id, PROBE_TIMEOUT)
        if reply.get("status") != "ok":
            raise SessionError(f"the checker's probe failed: {reply.get('evalue', reply)}")
        return reply

    def _call(self, function: str, *args: object) -> str:
        """Call a probe function in the kernel; return the JSON text it returns."""
        call = f"__import__('sys').modules[{_PROBE!r}].{function}(*{list(args)!r})"
        value = self._silent("", {"r": call})["user_expressions"]["r"]
        if value.get("status") != "ok":
            raise SessionError(f"the checker's probe failed: {value.get('evalue', value)}")
        text: str = ast.literal_eval(value["data"]["text/plain"])
        return text
