"""One launch of a Redis server process on one port, returned once it answers PING.

What it runs: ``--bind 127.0.0.1`` on the port given (:func:`wsnb.redis_server`
picks a free one, since Redis's ``--port 0`` would mean "no TCP at all", and
picks again if another process takes it first), a data directory (a fresh
temporary one unless ``directory=`` is given), no RDB snapshots, and the
append-only file with ``appendfsync always``: every write is on disk before
Redis answers it, so data survives :meth:`RedisServer.restart` and even
:meth:`RedisServer.kill` (a crash). ``appendonly=False`` keeps data in memory
only. Redis writes its log to ``redis.log`` in the data directory; when
startup fails, the error shows its last lines. Nothing is printed.

Only the standard library: readiness is checked over a raw socket
(:mod:`wsnb.redis_wire`).

Example::

    launch = _Launch(executable, directory, directory / LOG_NAME, True, False)
    process = launch.spawn(port, time.monotonic() + 10.0)   # or _InUse, or WsnbError
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import NamedTuple

from .errors import WsnbError
from .redis_binary import _HOW_TO_GET_ONE
from .redis_wire import HOST, _ask, _info_field

__all__ = ["LOG_LINES", "LOG_NAME"]

#: How many of the log's last lines a startup error shows.
LOG_LINES = 15
#: The log file, in the data directory (Redis's own lines, and its stdout and stderr).
LOG_NAME = "redis.log"


class _InUse(Exception):
    """The port was taken (by another process) before the server could listen on it."""


class _Launch(NamedTuple):
    """What a server is started with, the same at every (re)start but for the port."""

    executable: str
    directory: Path
    log_path: Path
    appendonly: bool
    temporary: bool  # a temporary directory: a startup error does not point to its log

    def command(self, port: int) -> list[str]:
        return [
            self.executable,
            *("--bind", HOST, "--port", str(port), "--protected-mode", "yes"),
            *("--dir", str(self.directory), "--logfile", str(self.log_path)),
            *("--save", "", "--appendonly", "yes" if self.appendonly else "no"),
            *("--appendfsync", "always", "--daemonize", "no"),
        ]

    def spawn(self, port: int, deadline: float) -> subprocess.Popen[bytes]:
        """One try on ``port``: a running process that answered PING, or an error."""
        seen = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as log:  # the child keeps its own copy
            try:
                process = subprocess.Popen(
                    self.command(port),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    start_new_session=True,  # Jupyter's Interrupt (SIGINT to the group) spares it
                )
            except OSError as exc:
                raise WsnbError(
                    f"cannot run {self.executable!r} as a Redis server ({exc}): {_HOW_TO_GET_ONE}"
                ) from exc
        try:
            _wait_until_ready(process, port, deadline)
        except _InUse:
            _end(process)
            raise
        except WsnbError as exc:
            _end(process)
            written = _log_since(self.log_path, seen)
            if "Address already in use" in written:
                raise _InUse from None
            raise WsnbError(self._startup_failure(str(exc), port, written)) from None
        except BaseException:
            _end(process)
            raise
        return process

    def _startup_failure(self, what: str, port: int, log: str) -> str:
        lines = log.splitlines()[-LOG_LINES:]
        where = "" if self.temporary else f" (all of it in {str(self.log_path)!r})"
        tail = "\n".join(f"  {line}" for line in lines) or "  (nothing)"
        return (
            f"{self.executable!r} did not start as a Redis server on {HOST}:{port}: "
            f"{what}\nlast lines of its log{where}:\n{tail}"
        )


def _wait_until_ready(process: subprocess.Popen[bytes], port: int, deadline: float) -> None:
    """Poll until ``process`` answers PING on ``port``; raise _InUse or WsnbError."""
    pause = 0.002
    while True:
        code = process.poll()
        if code is not None:
            raise WsnbError(f"it exited with code {code}")
        try:
            # A short timeout: a port taken by a program that accepts and never answers
            # must not hide for long that ours exited (Redis answers, even -LOADING, at once).
            pong, info = _ask(port, [b"PING", b"INFO server"], timeout=0.1)
        except (OSError, ValueError):  # not listening yet (or someone else's socket)
            pass
        else:
            if pong == b"+PONG":
                if _info_field(info, "process_id") == str(process.pid):
                    return
                raise _InUse  # another server answers on this port: ours cannot listen
        if time.monotonic() >= deadline:
            raise WsnbError("it did not answer PING in time")
        time.sleep(pause)
        pause = min(pause * 2, 0.05)


def _end(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
    process.wait()


def _log_since(path: Path, offset: int) -> str:
    try:
        with open(path, "rb") as file:
            file.seek(offset)
            return file.read().decode("utf-8", "replace")
    except OSError:
        return ""
