"""python -m wsnb demo: the self-test passes on a good install and names what fails."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest

import wsnb
from wsnb import demo


def test_the_self_test_passes_and_leaves_nothing_running():
    """In a process of its own, as a user runs it: every check ok, exit code 0."""
    code = "import sys, wsnb.demo; sys.exit(wsnb.demo.main([]))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"wsnb {wsnb.__version__}, websockets ")
    assert [line.split()[:2] for line in lines[1:-1]] == [
        ["ok", "echo"], ["ok", "json"], ["ok", "stream"], ["ok", "rooms"],
    ]  # fmt: skip
    assert lines[-1] == "all checks passed" and done.stderr == ""


def test_a_failing_check_is_named_and_the_exit_code_says_so(monkeypatch):
    async def broken() -> str:
        raise AssertionError("no reply")

    monkeypatch.setattr(demo, "CHECKS", [("echo", demo._echo), ("broken", broken)])
    out = io.StringIO()
    assert demo.main([], out=out) == 1
    text = out.getvalue()
    assert "ok   echo" in text and "FAIL broken  AssertionError: no reply" in text
    assert text.splitlines()[-1] == "1 check(s) failed"
    assert wsnb.running_servers() == []


def test_help_names_the_command(capsys):
    with pytest.raises(SystemExit):
        demo.main(["--help"])
    assert "python -m wsnb demo" in capsys.readouterr().out
