"""The kernel's side of ``wsnb check``: what happens in the background, and where a cell hangs.

The checker sends this file's source to the kernel (standard library only,
so any Python kernel can run it) and calls :func:`install` before the first
cell. From then on, in the kernel:

* an exception escaping a thread (:data:`threading.excepthook`), an asyncio
  callback or a task nobody can retrieve any more (the loop's exception
  handler), or a websockets connection handler (an ERROR with a traceback
  on the ``websockets`` logger) is recorded with the cell that was running,
  and not printed: whether that print reached the cell depended on timing;
* a failed task the notebook still holds is reported by :func:`final` if
  nobody retrieved its exception;
* a watchdog thread snapshots a cell that runs past its timeout (its await
  chain, or the main thread's stack if it blocks the loop; the other tasks;
  wsnb's servers) into the file named at :func:`install`.

:func:`arm`, :func:`report`, :func:`final` run between cells (silent user
expressions, JSON text back): ``install("/tmp/x/hang.json"); arm("cell 3", 5.0)``.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import json
import logging
import re
import sys
import threading
import time
import traceback
import weakref
from types import FrameType
from typing import Any

__all__ = ["arm", "final", "install", "report"]

#: Files of the kernel's own machinery: tasks started there are not the notebook's.
_MACHINERY = re.compile(r"[/\\](ipykernel|IPython|tornado|zmq|jupyter_client|traitlets)[/\\]")
_ASYNCIO = asyncio.__file__.rpartition("__init__")[0]
_STDLIB = _ASYNCIO.rstrip("/\\").rpartition("asyncio")[0]
#: Frames here belong to websockets or asyncio: a task made only of them is plumbing.
_PLUMBING = re.compile(r"[/\\]websockets[/\\]")
#: A cell's code, as ipykernel names it (or IPython before it).
_CELL_FILE = re.compile(r"ipykernel_\d+[/\\]\d+\.py$|<ipython-input-")

_lock = threading.Lock()
_state: dict[str, Any] = {
    "label": "before the first cell",
    "timeout": None,
    "cell": None,
    "failures": [],
    "snapshot_path": None,
    "labels": {},
}
_failed_tasks: weakref.WeakSet[asyncio.Task[Any]] = weakref.WeakSet()
_failed_in: dict[int, str] = {}
_wake = threading.Condition(_lock)


def _record(kind: str, source: str, text: str, where: str | None = None) -> None:
    """Keep a failure: its kind, where it came from, its last line, its traceback."""
    last = [line for line in text.splitlines() if line.strip()][-1:] or [""]
    failure = {"kind": kind, "source": source, "error": last[0], "text": text}
    with _lock:
        _state["failures"].append({**failure, "cell": where or _state["label"]})


def _format(exc: BaseException) -> str:
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


# Background failures --------------------------------------------------------------------------


def _thread_hook(args: Any) -> None:
    if args.exc_type is SystemExit:
        return
    name = args.thread.name if args.thread is not None else "a thread"
    text = "".join(traceback.format_exception(args.exc_type, args.exc_value, args.exc_traceback))
    _record("thread", f"thread {name!r}", text)


def _loop_hook(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    exc = context.get("exception")
    if not isinstance(exc, Exception):
        handler = _previous.get("loop_handler") or type(loop).default_exception_handler
        handler(loop, context)
        return
    future = context.get("future") or context.get("task")
    if isinstance(future, asyncio.Task):
        where = _failed_in.pop(id(future), None)
        source = f"task {future.get_name()!r} ({_coro_name(future)})"
    else:
        where, source = None, "an asyncio callback"
    _record("task", source, f"{context.get('message', '')}\n{_format(exc)}", where)


_previous: dict[str, Any] = {}


def _coro_name(task: asyncio.Task[Any]) -> str:
    coro = task.get_coro()
    return getattr(coro, "__qualname__", None) or type(coro).__name__


def _task_done(task: asyncio.Task[Any]) -> None:
    # Not task.exception(): that would mark the exception as retrieved.
    if task.cancelled() or getattr(task, "_exception", None) is None:
        return
    _failed_tasks.add(task)
    _failed_in[id(task)] = _state["label"]


def _task_factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Future[Any]:
    factory = _previous.get("task_factory")
    task = factory(loop, coro, **kwargs) if factory else asyncio.Task(coro, loop=loop, **kwargs)
    task.add_done_callback(_task_done)
    return task


class _HandlerErrors(logging.Handler):
    """websockets logs a connection handler's exception at ERROR: record it."""

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR and record.exc_info and record.exc_info[1]:
            text = f"{record.getMessage()}\n{_format(record.exc_info[1])}"
            _record("handler", f"a connection handler ({record.name})", text)
        elif not _other_handlers(record.name) and logging.lastResort is not None:
            logging.lastResort.handle(record)  # what would have happened without us


def _other_handlers(name: str) -> bool:
    logger: logging.Logger | None = logging.getLogger(name)
    while logger is not None:
        if any(not isinstance(h, _HandlerErrors) for h in logger.handlers):
            return True
        if not logger.propagate:
            return False
        logger = logger.parent
    return False


# Cells and the watchdog -----------------------------------------------------------------------


def _pre_run_cell(info: Any) -> None:
    try:
        task = asyncio.current_task()
    except RuntimeError:
        task = None
    with _lock:
        timeout = _state["timeout"]
        _state["cell"] = {
            "label": _state["label"],
            "task": task,
            "deadline": None if timeout is None else time.monotonic() + timeout,
            "timeout": timeout,
        }
        _state["labels"][_cell_file(info)] = _state["label"]
        _state["threads"] = set(threading.enumerate())
        _wake.notify_all()


def _post_run_cell(result: Any) -> None:
    with _lock:
        _state["cell"] = None
        _wake.notify_all()


def _cell_file(info: Any) -> str:
    try:
        shell = sys.modules["IPython"].get_ipython()
        return str(shell.compile.get_code_name(info.raw_cell, info.raw_cell, 0))
    except Exception:
        return ""


def _watchdog(loop: asyncio.AbstractEventLoop, main_ident: int) -> None:
    while True:
        with _lock:
            cell = _state["cell"]
            while cell is None or cell["deadline"] is None or cell.get("snapped"):
                _wake.wait()
                cell = _state["cell"]
            left = cell["deadline"] - time.monotonic()
            if left > 0:
                _wake.wait(left)
                continue
            cell["snapped"] = True
        _write_snapshot(_snapshot(cell, loop, main_ident))


def _snapshot(cell: dict[str, Any], loop: asyncio.AbstractEventLoop, main: int) -> dict[str, Any]:
    taken: dict[str, Any] = {}
    done = threading.Event()

    def in_loop() -> None:
        taken.update(_loop_snapshot(cell))
        done.set()

    loop.call_soon_threadsafe(in_loop)
    if not done.wait(0.5):  # the loop is blocked: the cell runs synchronously
        frame = sys._current_frames().get(main)
        frames = [f for f, _ in traceback.walk_stack(frame)][::-1] if frame else []
        taken = {"blocked": True, "stack": _frames_text(frames), "tasks": []}
    taken.update(cell=cell["label"], timeout=cell["timeout"], servers=_servers())
    taken["clients"] = _clients()
    with _lock:
        failures = [dict(f) for f in _state["failures"]]
    taken["failures"] = _labelled(failures)
    return taken


def _loop_snapshot(cell: dict[str, Any]) -> dict[str, Any]:
    task = cell["task"]
    stack = _frames_text(_await_chain(task)) if task is not None else ""
    others = []
    for other in asyncio.all_tasks():
        if other is task or other.done():
            continue
        frames = [f for f in _await_chain(other) if not f.f_code.co_filename.startswith(_ASYNCIO)]
        names = [f.f_code.co_filename for f in frames]
        if not frames or any(_MACHINERY.search(n) for n in names):
            continue
        if all(_PLUMBING.search(n) for n in names):
            continue
        where = traceback.StackSummary.extract([(frames[-1], frames[-1].f_lineno)])[0]
        others.append(
            f"{other.get_name()} ({_coro_name(other)}) at {_where(where.filename)}, "
            f"line {where.lineno}: {(where.line or '').strip()}"
        )
    return {"blocked": False, "stack": stack, "tasks": others}


def _where(filename: str) -> str:
    """A file as a reader wants it: a cell's label, or a path inside site-packages/stdlib."""
    label: str | None = _state["labels"].get(filename)
    if label:
        return label
    for marker in ("site-packages/", "dist-packages/"):
        if marker in filename:
            return filename.rpartition(marker)[2]
    if filename.startswith(_STDLIB):
        return filename[len(_STDLIB) :]
    return filename


def _await_chain(task: asyncio.Task[Any]) -> list[FrameType]:
    """The frames of a task's coroutine and of everything it awaits, outermost first."""
    frames = []
    awaited: Any = task.get_coro()
    while awaited is not None:
        frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "gi_frame", None)
        frame = frame or getattr(awaited, "ag_frame", None)
        if frame is not None:
            frames.append(frame)
        awaited = (
            getattr(awaited, "cr_await", None)
            or getattr(awaited, "gi_yieldfrom", None)
            or getattr(awaited, "ag_await", None)
        )
    return frames


def _frames_text(frames: list[FrameType]) -> str:
    """Frames as a traceback would show them, from the first one in a cell's code."""
    start = next((i for i, f in enumerate(frames) if _CELL_FILE.search(f.f_code.co_filename)), 0)
    summary = traceback.StackSummary.extract((f, f.f_lineno) for f in frames[start:])
    lines = []
    for entry in summary:
        where = _where(entry.filename)
        lines.append(f"  {where}, line {entry.lineno}, in {entry.name}\n    {entry.line or ''}\n")
    return "".join(lines)


def _servers() -> list[str]:
    described = []
    try:
        for server in _wsnb_servers():
            peers = [_address(c.remote_address) for c in server.connections]
            conns = f"{len(peers)} connection{'s' if len(peers) != 1 else ''}"
            described.append(
                f"{server.name} {server.url} ({conns}{': ' if peers else ''}{', '.join(peers)})"
            )
    except Exception as exc:  # the registry changed under us: say so, do not fail the check
        described.append(f"(could not list wsnb's servers: {exc!r})")
    return described


def _wsnb_servers() -> list[Any]:
    wsnb = sys.modules.get("wsnb")
    return list(wsnb.running_servers()) if wsnb is not None else []


def _clients() -> list[str]:  # wsnb's background clients (subscribers)
    registry = getattr(sys.modules.get("wsnb.registry"), "registry", None)
    return [repr(c) for c in registry.clients()] if registry is not None else []


def _address(address: Any) -> str:
    ok = isinstance(address, tuple) and len(address) >= 2
    return f"{address[0]}:{address[1]}" if ok else str(address)


def _write_snapshot(snapshot: dict[str, Any]) -> None:
    path = _state["snapshot_path"]
    if path:
        with open(path, "w", encoding="utf-8") as file:
            json.dump(snapshot, file)


# Ports --------------------------------------------------------------------------------------


def _listening() -> set[str] | None:
    try:  # ipykernel depends on psutil; a foreign kernel may not have it
        psutil: Any = importlib.import_module("psutil")
    except ImportError:
        return None
    try:
        connections = psutil.Process().net_connections(kind="inet")
    except Exception:
        return None
    return {_address(tuple(c.laddr)) for c in connections if c.status == psutil.CONN_LISTEN}


# What the checker calls -----------------------------------------------------------------------


def install(snapshot_path: str) -> str:
    """Start watching: failure hooks, cell events, the watchdog. ``install("/tmp/x.json")``"""
    loop = asyncio.get_event_loop()
    _state["snapshot_path"] = snapshot_path
    _previous["loop_handler"] = loop.get_exception_handler()
    _previous["task_factory"] = loop.get_task_factory()
    threading.excepthook = _thread_hook
    loop.set_exception_handler(_loop_hook)
    loop.set_task_factory(_task_factory)
    logging.getLogger("websockets").addHandler(_HandlerErrors())
    shell = sys.modules["IPython"].get_ipython()
    shell.events.register("pre_run_cell", _pre_run_cell)
    shell.events.register("post_run_cell", _post_run_cell)
    _previous["ports"] = _listening()
    args = (loop, threading.main_thread().ident)
    threading.Thread(target=_watchdog, args=args, name="wsnb-check-watchdog", daemon=True).start()
    return "{}"


def arm(label: str, timeout: float | None) -> str:
    """Name the next cell and set its timeout in seconds: ``arm("cell 3 (code cell 2)", 60)``"""
    with _lock:
        _state["label"] = label
        _state["timeout"] = timeout
    return "{}"


def report() -> str:
    """The failures since the last report, as JSON: ``json.loads(report())["failures"]``"""
    deadline = time.monotonic() + 0.1  # a thread the cell started and that dies at once
    for thread in set(threading.enumerate()) - _state.get("threads", set()):
        thread.join(max(0.0, deadline - time.monotonic()))  # ...is the cell's failure
    with _lock:
        failures, _state["failures"] = _state["failures"], []
    return json.dumps({"failures": _labelled(failures)})


def _labelled(failures: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Name cells in tracebacks as the checker does ("cell 3 (code cell 2)")."""
    with _lock:
        labels = dict(_state["labels"])
    for failure in failures:
        for filename, label in labels.items():
            if filename:
                failure["text"] = failure["text"].replace(f'"{filename}"', f'"{label}"')
    return failures


def final() -> str:
    """After the last cell: failures, servers, ports: ``json.loads(final())["servers"]``"""
    gc.collect()  # a task nobody holds is reported (by the loop's handler) when collected
    for task in list(_failed_tasks):
        if getattr(task, "_log_traceback", False):
            task._log_traceback = False
            exc = task._exception
            if exc is None:
                continue
            source = f"task {task.get_name()!r} ({_coro_name(task)})"
            text = "nobody retrieved the exception of this task\n" + _format(exc)
            _record("task", source, text, _failed_in.pop(id(task), None))
    result = json.loads(report())
    before, now = _previous.get("ports"), _listening()
    result["servers"], result["clients"] = _servers(), _clients()
    ports = now - before if before is not None and now is not None else set()
    known = {f":{s.port}" for s in _wsnb_servers()}
    result["ports"] = sorted(p for p in ports if not any(p.endswith(k) for k in known))
    return json.dumps(result)
