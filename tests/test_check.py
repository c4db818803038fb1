"""``wsnb check`` on notebooks that fail, one failure shape each: the verdict and its words.

One run checks the whole ``failing/`` folder with two workers (which is
also the test that ``-n`` keeps each notebook on one worker); each test
then reads the part of the report about its notebook.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from check_helpers import CELL_TIMEOUT, copy_fixture, run_check, section


@pytest.fixture(scope="module")
def failing(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """The report of checking failing/ (stdout), and the folder of executed notebooks."""
    executed = tmp_path_factory.mktemp("executed")
    result = run_check(
        "failing",
        "sanitize/token.ipynb",  # without the user's rules (with them: test_check_store.py)
        *("-n", "2", "--cell-timeout", CELL_TIMEOUT, "--executed", executed),
    )
    assert result.returncode == 1, result.stdout + result.stderr
    return result.stdout, executed


def test_a_hang_is_called_a_hang_with_the_await_it_was_stuck_in(failing: tuple[str, Path]) -> None:
    report = section(failing[0], "failing/hang_on_await.ipynb::cell 4")
    assert f"cell 4 (code cell 2) timed out after {CELL_TIMEOUT} s" in report
    assert "was awaiting, in:" in report
    assert "cell 4 (code cell 2), line 2, in <module>\n    message = await ws.recv()" in report
    assert "websockets/asyncio/connection.py" in report  # the await chain, to the bottom
    assert "wsnb servers open then:\n  silent ws://127.0.0.1:" in report
    assert "(1 connection: 127.0.0.1:" in report
    assert "hint: nothing arrived" in report
    assert "Not run: cells 5-6, and the check after the last cell." in report
    assert "CancelledError" not in report and "Cell execution caused" not in report


def test_the_cells_after_a_hang_are_not_run_and_say_why(failing: tuple[str, Path]) -> None:
    report = failing[0]
    assert "failing/hang_on_await.ipynb::cell 5" not in report.split("short test summary")[0]
    assert (
        "not run: cells 5-6, and the check after the last cell "
        f"(cell 4 (code cell 2) timed out after {CELL_TIMEOUT} s)"
    ) in report
    assert "xfail" not in report.lower() and "xpass" not in report.lower()


def test_serve_forever_times_out_with_its_hint_and_a_missing_module_gets_one(
    failing: tuple[str, Path],
) -> None:
    missing = section(failing[0], "failing/course_notes.ipynb::cell 2")
    assert "raised ModuleNotFoundError: No module named 'course_helpers'" in missing
    assert "hint: the kernel's Python has no module 'course_helpers'" in missing
    forever = section(failing[0], "failing/course_notes.ipynb::cell 3")
    assert "timed out after" in forever and "await server.serve_forever()" in forever
    assert "hint: serve_forever() (or awaiting a future nobody sets) never returns" in forever
    assert "hint: `async for" not in forever  # the handler's loop is not where it waits


def test_a_random_token_fails_without_the_users_rules(failing: tuple[str, Path]) -> None:
    report = section(failing[0], "sanitize/token.ipynb::cell 2")
    changed = [line for line in report.splitlines() if " | " in line]
    assert len(changed) == 1 and changed[0].startswith("token: 5f2a9c0d4e1b7a36")


def test_the_blocking_client_against_the_kernels_server_is_a_hang_with_its_hint(
    failing: tuple[str, Path],
) -> None:
    report = section(failing[0], "failing/blocking_client.ipynb::cell 3")
    assert f"cell 3 (code cell 2) timed out after {CELL_TIMEOUT} s" in report
    assert "was blocking the event loop (a synchronous call), in:" in report
    assert "with connect(server.url, open_timeout=None) as ws:" in report
    assert "websockets/sync/client.py" in report
    assert "hint: a blocking client (websockets.sync) in a cell cannot reach a server" in report


def test_a_kernel_that_dies_is_said_to_have_died(failing: tuple[str, Path]) -> None:
    report = section(failing[0], "failing/kernel_dies.ipynb::cell 2")
    assert "the kernel died while running cell 2 (code cell 1) (exit status 3)" in report
    assert "Not run: cell 3, and the check after the last cell." in report


def test_the_notebooks_budget_is_a_timeout_too(tmp_path: Path) -> None:
    copy_fixture("failing/hang_on_await.ipynb", tmp_path)
    result = run_check(
        "hang_on_await.ipynb",
        "--cell-timeout",
        "60",
        "--notebook-timeout",
        CELL_TIMEOUT,
        cwd=tmp_path,
    )
    assert result.returncode == 1
    report = section(result.stdout, "hang_on_await.ipynb::cell 4")
    assert f"cell 4 (code cell 2) timed out: the notebook's budget of {CELL_TIMEOUT} s ran out" in (
        report
    )
    assert "message = await ws.recv()" in report


def test_a_thread_that_dies_fails_the_cell_that_started_it(failing: tuple[str, Path]) -> None:
    report = section(failing[0], "failing/thread_dies.ipynb::cell 2")
    assert "\ncell 2 (code cell 1): an exception in thread 'Thread-" in report
    assert "RuntimeError: There is no current event loop in thread" in report
    assert 'File "cell 2 (code cell 1)", line 12, in run_server' in report
    assert "hint: websockets' legacy API needs an event loop running in its thread" in report


def test_a_task_that_fails_is_reported_after_the_last_cell(failing: tuple[str, Path]) -> None:
    report = section(failing[0], "failing/task_raises.ipynb::after the last cell")
    assert "after the last cell: an exception in task 'Task-" in report
    assert "(poll) (during cell " in report
    assert "ConnectionError: the feed went away" in report
    assert "nobody retrieved the exception of this task" in report


def test_a_handler_that_raises_fails_the_cell_it_served(failing: tuple[str, Path]) -> None:
    report = section(failing[0], "failing/handler_raises.ipynb::cell 3")
    assert "cell 3 (code cell 2): an exception in a connection handler" in report
    assert "KeyError: 'symbol'" in report
    assert 'File "cell 2 (code cell 1)", line 8, in prices' in report


def test_asyncio_run_in_a_cell_gets_the_fix_in_one_line(failing: tuple[str, Path]) -> None:
    report = section(failing[0], "failing/asyncio_run.ipynb::cell 2")
    assert "raised RuntimeError: asyncio.run() cannot be called from a running event loop" in report
    hints = [line for line in report.splitlines() if line.startswith("hint: ")]
    assert hints == [
        "hint: a notebook cell already runs inside an event loop: write `await main()` instead "
        "of `asyncio.run(main())`, or `wsnb.run(main())` for code that must also run as a script"
    ]


def test_servers_left_open_after_the_last_cell_fail_the_notebook(
    failing: tuple[str, Path],
) -> None:
    report = section(failing[0], "failing/leaked_server.ipynb::after the last cell")
    assert "after the last cell: 1 wsnb server still running\n  echo ws://127.0.0.1:" in report
    assert "after the last cell: still listening on 127.0.0.1:" in report  # the raw one
    assert report.count("127.0.0.1:") == 2  # the wsnb server's port is not listed twice
    assert "hint: a notebook should stop what it starts: `await wsnb.stop_all()`" in report


def test_an_unexpected_stderr_is_shown_beside_the_stored_outputs(failing: tuple[str, Path]) -> None:
    report = section(failing[0], "failing/stderr_appears.ipynb::cell 2")
    assert "its outputs differ from those stored (both sanitized)" in report
    lines = report.splitlines()
    assert any(line.startswith("stored ") and line.rstrip().endswith("new") for line in lines)
    assert any(line.split() == ["ready", "ready"] for line in lines)
    assert any(line.split() == [">", "careful:", "using", "a", "fixed", "port"] for line in lines)


def test_the_report_names_notebook_cells_has_no_colour_codes_and_sums_up(
    failing: tuple[str, Path],
) -> None:
    report = failing[0]
    assert "\x1b[" not in report
    assert "NameError" not in report  # -n 2 kept each notebook on one worker
    assert "2 workers" in report
    assert (
        f"FAILED failing/hang_on_await.ipynb: cell 4 (code cell 2) timed out after {CELL_TIMEOUT} s"
        in report
    )
    assert "12 failed" in report


def test_the_executed_notebook_is_written_for_ci_to_keep(failing: tuple[str, Path]) -> None:
    nb = json.loads((failing[1] / "failing" / "hang_on_await.ipynb").read_text(encoding="utf-8"))
    cells = nb["cells"]
    note = cells[3]["outputs"][-1]
    assert note["output_type"] == "error" and note["ename"] == "wsnb check"
    assert note["evalue"].startswith("timed out after")
    assert any("message = await ws.recv()" in line for line in note["traceback"])
    assert cells[4]["outputs"] == [] and cells[4]["execution_count"] is None  # not run
    assert cells[1]["execution_count"] == 1


def test_a_dying_thread_fails_every_run(tmp_path: Path) -> None:
    """The same notebook twice more: the thread's exception is caught each time."""
    for n in range(2):
        copy_fixture("failing/thread_dies.ipynb", tmp_path).rename(tmp_path / f"run{n}.ipynb")
    result = run_check(".", cwd=tmp_path)
    assert result.returncode == 1
    for n in range(2):  # in its report and in wsnb check's summary, whichever cell caught it
        lines = [line for line in result.stdout.splitlines() if f"run{n}.ipynb" in line]
        caught = [line for line in lines if "an exception in thread 'Thread-" in line]
        assert len(caught) >= 1 and any(
            line.startswith(f"FAILED run{n}.ipynb: ") for line in caught
        )
    assert result.stdout.count("an exception in thread 'Thread-") >= 2 * 2
    assert "2 failed, 4 passed" in result.stdout


def test_a_mode_that_splits_notebooks_over_workers_is_refused(tmp_path: Path) -> None:
    copy_fixture("passing/random_values.ipynb", tmp_path)
    result = run_check("random_values.ipynb", "-n", "2", "--dist", "load", cwd=tmp_path)
    assert result.returncode != 0
    assert "--dist load would split one notebook's cells over workers" in result.stderr


def test_a_missing_path_is_a_usage_error(tmp_path: Path) -> None:
    result = run_check("nowhere.ipynb", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == "wsnb: no such notebook or folder: nowhere.ipynb\n"


def test_help_says_what_check_does_and_how_cells_are_counted() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "wsnb", "check", "--help"],
        capture_output=True,
        text=True,
    )
    text = " ".join(result.stdout.split())
    for words in ("--store", "--sanitize FILE", "--executed DIR", "-n N", "--cell-timeout S"):
        assert words in text
    assert "counted from 1 at the top, markdown included" in text
