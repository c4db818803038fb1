"""``wsnb check`` on notebooks that pass, with the user's own rules, and ``--store``.

Real ``python -m wsnb check`` runs in subprocesses, on copies of the
fixture notebooks in tests/check_notebooks/ when a run writes to them.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from check_helpers import CELL_TIMEOUT, FIXTURES, copy_fixture, run_check


def code_cells(path: Path) -> list[dict]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def test_fine_notebooks_pass_twice_in_a_row_with_the_users_rules_after_the_shipped_ones() -> None:
    """Ports, address tuples, epoch floats, datetimes, durations and install paths all differ;
    nbval's markers (an expected exception, an ignored output, a skipped cell) are honoured;
    the session token needs the user's rule (without it: test_check.py)."""
    result = run_check("passing", "sanitize", "--sanitize", "sanitize/tokens.cfg")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "12 passed, 1 skipped" in result.stdout
    assert "passed passing/random_values.ipynb: 6 checks" in result.stdout
    assert "passed passing/markers.ipynb: 4 checks, 1 skipped" in result.stdout
    assert "passed sanitize/token.ipynb: 2 checks" in result.stdout
    again = run_check("passing/random_values.ipynb")  # what differs on every run, again
    assert again.returncode == 0, again.stdout + again.stderr


def test_a_bad_sanitize_file_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.cfg"
    bad.write_text("[oops]\nregex: (unclosed\nreplace: X\n", encoding="utf-8")
    result = run_check("passing/random_values.ipynb", "--sanitize", bad)
    assert result.returncode != 0
    assert "bad.cfg: bad regex '(unclosed'" in result.stdout + result.stderr


def test_store_writes_sanitized_outputs_also_when_a_cell_raises(tmp_path: Path) -> None:
    failing = copy_fixture("store/error_cell.ipynb", tmp_path)
    fine = copy_fixture("passing/random_values.ipynb", tmp_path)
    result = run_check("--store", "-n", "2", failing.name, fine.name, cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.splitlines() == [
        "wsnb: stored error_cell.ipynb: 4 of 4 code cells ran",
        "  cell 3 (code cell 2) raised ZeroDivisionError: division by zero (stored with it)",
        "wsnb: stored random_values.ipynb: 5 of 5 code cells ran, all well",
    ]
    cells = code_cells(failing)
    assert [c["execution_count"] for c in cells] == [1, 2, 3, 4]
    assert cells[0]["outputs"][0]["text"] == ["ws://127.0.0.1:PORT\n"]  # sanitized
    assert cells[1]["outputs"][0]["ename"] == "ZeroDivisionError"
    assert cells[2]["outputs"][0]["text"] == ["['after']\n"]  # the run went on after the error
    text = fine.read_text(encoding="utf-8")
    assert "ws://127.0.0.1:PORT" in text and "EPOCH" in text and "DATETIME" in text

    check = run_check(failing.name, fine.name, cwd=tmp_path)  # all reproduces, but the error
    assert "1 failed, 10 passed" in check.stdout, check.stdout
    assert "FAILED error_cell.ipynb: cell 3 (code cell 2) raised ZeroDivisionError" in check.stdout


def test_store_writes_what_ran_before_a_hang_and_leaves_the_rest(tmp_path: Path) -> None:
    notebook = copy_fixture("failing/hang_on_await.ipynb", tmp_path)
    before = code_cells(notebook)
    result = run_check("--store", "--cell-timeout", CELL_TIMEOUT, notebook.name, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "wsnb: stored hang_on_await.ipynb: 2 of 4 code cells ran",
        f"  cell 4 (code cell 2) timed out after {CELL_TIMEOUT} s; stored what it showed before",
        "  not run, left as they were: cells 5-6",
    ]
    after = code_cells(notebook)
    assert [c["execution_count"] for c in after[:2]] == [1, None]
    assert after[2:] == before[2:]


def test_the_fixtures_are_what_build_py_writes(tmp_path: Path) -> None:
    """Editing a fixture means editing its builder: the two cannot drift apart."""
    spec = importlib.util.spec_from_file_location("build_fixtures", FIXTURES / "build.py")
    assert spec is not None and spec.loader is not None
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    build.build(tmp_path)
    written = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    committed = sorted(
        p.relative_to(FIXTURES) for p in FIXTURES.rglob("*") if p.is_file() and p.suffix != ".py"
    )
    assert written == committed
    for name in written:
        assert (tmp_path / name).read_bytes() == (FIXTURES / name).read_bytes(), name
