"""The parts of ``wsnb check`` that need no kernel: sanitize rules, hints, the report's layout.

Each sanitize case is a pair of texts from two runs that must compare
equal once sanitized (and a text that must survive untouched); each hint
case is what a check sees for one trap.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from wsnb.checking import command
from wsnb.checking.hints import hints
from wsnb.checking.report import output_lines, side_by_side, span
from wsnb.checking.sanitize import SanitizeError, load_rules, sanitize

RULES = load_rules()


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("51344\n", "39197\n"),  # a bare port, alone on its line
        ("('127.0.0.1', 51344)", "('127.0.0.1', 40022)"),
        ("('::1', 51344, 0, 0)", "('::1', 40022, 0, 0)"),
        ("round trip in 0.0021 s", "round trip in 0.0135 s"),
        ("took 1.25s", "took 0.98s"),
        ("1764748205.4183521", "1796279351.7116327"),  # time.time()
        ("sent at 1764748205418", "sent at 1796279351711"),  # a JavaScript Date.now()
        ("2026-12-03 06:10:05.418411", "2027-01-15 23:59:59.000001"),
        ("2026-12-03T06:10:05Z", "2026-12-04T07:11:06Z"),
        (
            "datetime.datetime(2026, 12, 3, 6, 10, 5, 418437)",
            "datetime.datetime(2026, 12, 3, 6, 29, 11, 711971)",
        ),
        (
            "/home/a/.venv/lib/python3.12/site-packages/websockets/legacy/__init__.py:6: "
            "DeprecationWarning",
            "/opt/venv/lib/python3.11/site-packages/websockets/legacy/__init__.py:9: "
            "DeprecationWarning",
        ),
        (
            'File "/usr/lib/python3/dist-packages/websockets/client.py", line 568, in connect',
            'File "C:\\py\\Lib\\site-packages/websockets/client.py", line 570, in connect',
        ),
        ("serving on ws://127.0.0.1:8765/chat", "serving on ws://127.0.0.1:53211/chat"),
    ],
)
def test_what_differs_between_runs_sanitizes_the_same(first: str, second: str) -> None:
    assert sanitize(first, RULES) == sanitize(second, RULES)
    assert sanitize(first, RULES) != first


@pytest.mark.parametrize(
    "text",
    [
        "42\n",  # an answer is not a port
        "1024\n",  # nor a size below the ephemeral ports
        "('hello', 51344)",  # a tuple that is not an address
        "3 s",  # a whole number of seconds is usually the lesson's own
        "version 3.11",
        "[100, 101, 102]",
    ],
)
def test_what_reproduces_is_left_alone(text: str) -> None:
    assert sanitize(text, RULES) == text


def test_the_users_rules_come_after_the_shipped_ones(tmp_path: Path) -> None:
    mine = tmp_path / "mine.cfg"
    mine.write_text("[ids]\nregex: PORT-(\\d+)\nreplace: PORT-N\n", encoding="utf-8")
    rules = load_rules([mine])
    assert rules[: len(RULES)] == RULES
    assert sanitize("ws://127.0.0.1:9000 port 51344", rules) == "ws://127.0.0.1:PORT port PORT"
    assert sanitize("PORT-7", rules) == "PORT-N"


def test_a_bad_rule_file_says_what_is_wrong(tmp_path: Path) -> None:
    bad = tmp_path / "bad.cfg"
    bad.write_text("[x]\nregex: [unclosed\nreplace: y\n", encoding="utf-8")
    with pytest.raises(SanitizeError, match=r"bad\.cfg: bad regex '\[unclosed'"):
        load_rules([bad])
    with pytest.raises(SanitizeError, match="cannot read sanitize file"):
        load_rules([tmp_path / "missing.cfg"])
    lonely = tmp_path / "lonely.cfg"
    lonely.write_text("[x]\nregex: a\n", encoding="utf-8")
    with pytest.raises(SanitizeError, match="no 'regex:' line followed by a 'replace:' line"):
        load_rules([lonely])


@pytest.mark.parametrize(
    ("seen", "expected"),
    [
        (
            {
                "text": '  File ".../websockets/sync/client.py", line 124, in handshake\n'
                "TimeoutError: timed out during opening handshake"
            },
            "hint: a blocking client (websockets.sync) in a cell cannot reach a server",
        ),
        (
            {"text": "<stdin>:1: RuntimeWarning: coroutine 'serve' was never awaited"},
            "hint: a coroutine was called but not awaited: put `await` before the call",
        ),
        (
            {"text": "AttributeError: 'coroutine' object has no attribute 'url'"},
            "hint: a coroutine was called but not awaited",
        ),
        (
            {
                "hang": {
                    "stack": "  cell 3 (code cell 2), line 1, in <module>\n"
                    "    await asyncio.Future()\n"
                }
            },
            "hint: serve_forever() (or awaiting a future nobody sets) never returns",
        ),
        (
            {
                "hang": {
                    "stack": "  cell 5 (code cell 3), line 2, in <module>\n"
                    "    async for message in ws:\n"
                }
            },
            "hint: `async for message in ws` ends only when the connection closes",
        ),
        (
            {"text": "OSError: [Errno 98] error while attempting to bind on address"},
            "hint: the port is taken, often by a server an earlier run of the cell left behind",
        ),
    ],
)
def test_each_trap_gets_its_hint(seen: dict, expected: str) -> None:
    found = hints(seen.get("text", ""), hang=seen.get("hang"))
    assert len(found) == 1 and found[0].startswith(expected), found


def test_a_hang_hint_needs_a_hang() -> None:
    """The source of a cell that did not hang says nothing about hanging."""
    assert hints("ZeroDivisionError", source="await server.serve_forever()") == []


def test_side_by_side_marks_changed_and_one_sided_lines() -> None:
    text = side_by_side(["[stdout]", "a", "b"], ["[stdout]", "a", "c", "[stderr]", "oops"], 40)
    assert text.splitlines() == [
        "stored               new",
        "[stdout]             [stdout]",
        "a                    a",
        "b                  | c",
        "                   > [stderr]",
        "                   > oops",
    ]


def test_invisible_differences_are_made_visible() -> None:
    assert "'done '" in side_by_side(["done "], ["done"], 40)


def test_outputs_as_lines_name_each_output_and_skip_images() -> None:
    outputs = [
        {"output_type": "stream", "name": "stderr", "text": "\x1b[31mwarn\x1b[0m\n"},
        {"output_type": "display_data", "data": {"image/png": "iVBOR", "text/plain": "<Figure>"}},
        {"output_type": "error", "ename": "KeyError", "evalue": "'seq'"},
    ]
    assert output_lines(outputs) == [
        "[stderr]",
        "warn",
        "[display_data text/plain]",
        "<Figure>",
        "[display_data image/png: not compared]",
        "[error]",
        "KeyError: 'seq'",
    ]


def test_cell_numbers_read_as_ranges() -> None:
    assert span([5, 6]) == "5-6" and span([3]) == "3" and span([2, 4, 5, 6, 9]) == "2, 4-6, 9"


def test_folders_are_searched_without_checkpoints(tmp_path: Path) -> None:
    (tmp_path / "a.ipynb").write_text("{}")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.ipynb").write_text("{}")
    (tmp_path / ".ipynb_checkpoints").mkdir()
    (tmp_path / ".ipynb_checkpoints" / "a-checkpoint.ipynb").write_text("{}")
    found = command.find_notebooks([str(tmp_path)])
    assert found == [tmp_path / "a.ipynb", tmp_path / "sub" / "b.ipynb"]


def test_without_pytest_check_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A machine with only wsnb: the one line says which extra to install."""
    (tmp_path / "a.ipynb").write_text("{}")
    monkeypatch.setattr(command.importlib.util, "find_spec", lambda name: None)
    args = argparse.Namespace(notebooks=[str(tmp_path)], workers=0, store=False, sanitize=[])
    assert command.run_check(args, []) == 1
    assert capsys.readouterr().err == (
        "wsnb: wsnb check needs pytest, nbval and pytest-xdist: pip install 'wsnb[check]'\n"
    )


def test_long_runs_of_equal_lines_are_left_out_around_a_difference() -> None:
    stored = [f"row {n}" for n in range(30)]
    new = [*stored[:20], "row twenty", *stored[21:]]
    lines = side_by_side(stored, new, 40).splitlines()
    assert lines[1] == "... 17 lines the same ..."
    assert [line.split()[1] for line in lines[2:5]] == ["17", "18", "19"]
    assert lines[5].split("|")[1].strip() == "row twenty"
    assert lines[-1] == "... 6 lines the same ..."
