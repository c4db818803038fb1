"""What a failed check says: cell labels, outputs side by side, hangs, background failures.

Everything here turns plain data (outputs as nbformat dictionaries, the
probe's JSON) into text; nothing runs a kernel.

Example::

    >>> cell_label(21, 4)
    'cell 22 (code cell 5)'
    >>> print(side_by_side(["42", "same"], ["43", "same"], width=30))
    stored          new
    42            | 43
    same            same
"""

from __future__ import annotations

import difflib
import re
import shutil
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = [
    "ANSI",
    "cell_label",
    "failure_text",
    "hang_text",
    "output_lines",
    "plural",
    "side_by_side",
    "span",
    "strip_ansi",
]

#: ANSI escape sequences (colours, cursor moves) as IPython puts them in tracebacks.
ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")

#: Output keys nbval compares; the rest (images, metadata, tracebacks) it skips.
_SHOWN = ("text/plain", "text/html", "text/markdown", "text/latex", "application/json")


def strip_ansi(text: str) -> str:
    r"""``text`` without colour codes.

    >>> strip_ansi("\x1b[0;31mValueError\x1b[0m: bad")
    'ValueError: bad'
    """
    return ANSI.sub("", text)


def cell_label(index: int, code_index: int) -> str:
    """How a report names a cell: counted from 1 at the top, markdown included.

    >>> cell_label(0, 0)
    'cell 1 (code cell 1)'
    """
    return f"cell {index + 1} (code cell {code_index + 1})"


def plural(count: int, word: str) -> str:
    """``"1 cell"``, ``"2 cells"``.

    >>> plural(2, "cell"), plural(1, "connection")
    ('2 cells', '1 connection')
    """
    return f"{count} {word}{'' if count == 1 else 's'}"


def span(numbers: Sequence[int]) -> str:
    """Cell numbers as a reader wants them: ``"4-6, 9"``.

    >>> span([4, 5, 6, 9])
    '4-6, 9'
    """
    parts: list[str] = []
    start = previous = None
    for n in [*numbers, None]:
        if start is not None and n is not None and previous is not None and n == previous + 1:
            previous = n
            continue
        if start is not None:
            parts.append(str(start) if start == previous else f"{start}-{previous}")
        start = previous = n
    return ", ".join(parts)


def output_lines(outputs: Iterable[Mapping[str, Any]]) -> list[str]:
    """Outputs as lines of text, each output under a ``[kind]`` heading (no images).

    >>> output_lines([{"output_type": "stream", "name": "stdout", "text": "42\\n"}])
    ['[stdout]', '42']
    """
    lines: list[str] = []
    for output in outputs:
        kind = output.get("output_type")
        if kind == "stream":
            lines.append(f"[{output.get('name')}]")
            lines.extend(_text(output.get("text", "")).splitlines())
        elif kind == "error":
            lines.append("[error]")
            lines.append(f"{output.get('ename')}: {_text(output.get('evalue', ''))}")
        else:
            data = output.get("data", {})
            for key in _SHOWN:
                if key in data:
                    lines.append(f"[{kind} {key}]")
                    lines.extend(_text(data[key]).splitlines())
            hidden = sorted(k for k in data if k not in _SHOWN)
            if hidden:
                lines.append(f"[{kind} {', '.join(hidden)}: not compared]")
    return lines


def _text(value: Any) -> str:
    text = "".join(value) if isinstance(value, list) else str(value)
    return strip_ansi(text)


def side_by_side(left: Sequence[str], right: Sequence[str], width: int | None = None) -> str:
    """Two columns, stored and new, like ``diff -y``: ``|`` differs, ``<``/``>`` one side only.

    Lines that differ only in invisible characters are shown with ``repr``.

    >>> print(side_by_side(["a"], ["a", "b"], width=30))
    stored          new
    a               a
                  > b
    """
    width = width or max(60, min(shutil.get_terminal_size((120, 24)).columns, 160))
    column = max(12, (width - 3) // 2)
    rows = [("stored", " ", "new")]
    matcher = difflib.SequenceMatcher(a=left, b=right, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        a, b = list(left[i1:i2]), list(right[j1:j2])
        if tag == "equal":
            rows += [(x, " ", x) for x in a]
            continue
        for k in range(max(len(a), len(b))):
            x, y = (a[k] if k < len(a) else None), (b[k] if k < len(b) else None)
            if x is not None and y is not None and x.strip() == y.strip():
                x, y = repr(x), repr(y)
            mark = "|" if x is not None and y is not None else ("<" if y is None else ">")
            rows.append((x or "", mark, y or ""))
    return "\n".join(_row(x, mark, y, column) for x, mark, y in _collapsed(rows))


def _collapsed(rows: list[tuple[str, str, str]], context: int = 3) -> list[tuple[str, str, str]]:
    """Long runs of equal lines shortened to ``context`` lines each side of a difference."""
    kept: list[tuple[str, str, str]] = rows[:1]
    run: list[tuple[str, str, str]] = []
    for row in [*rows[1:], ("", "end", "")]:
        if row[1] == " ":
            run.append(row)
            continue
        head = run[:context] if len(kept) > 1 else []
        tail = run[-context:] if row[1] != "end" else []
        if len(run) > len(head) + len(tail) + 1:
            skipped = len(run) - len(head) - len(tail)
            run = [*head, (f"... {plural(skipped, 'line')} the same ...", "~", ""), *tail]
        kept += [*run, row] if row[1] != "end" else run
        run = []
    return kept


def _row(left: str, mark: str, right: str, column: int) -> str:
    if mark == "~":  # a run of equal lines, left out
        return left
    a = textwrap.wrap(left, column, break_on_hyphens=False, drop_whitespace=False) or [""]
    b = textwrap.wrap(right, column, break_on_hyphens=False, drop_whitespace=False) or [""]
    lines = []
    for k in range(max(len(a), len(b))):
        x = a[k] if k < len(a) else ""
        y = b[k] if k < len(b) else ""
        lines.append(f"{x:<{column}} {mark if k == 0 else ' '} {y}".rstrip())
    return "\n".join(lines)


def hang_text(hang: Mapping[str, Any] | None, label: str) -> str:
    """Where a cell was when its time ran out, from the probe's snapshot.

    >>> print(hang_text({"stack": "  cell 2, line 1, in <module>\\n    await f\\n"}, "cell 2"))
    cell 2 was awaiting, in:
      cell 2, line 1, in <module>
        await f
    """
    if not hang:
        return "  (the kernel did not say where it was: it may hold the GIL in native code)"
    lines = []
    if hang.get("blocked"):
        lines.append(f"{label} was blocking the event loop (a synchronous call), in:")
    else:
        lines.append(f"{label} was awaiting, in:")
    lines.append(hang.get("stack", "").rstrip() or "  (no Python frames)")
    tasks = hang.get("tasks") or []
    if tasks:
        lines.append(f"other tasks ({len(tasks)}):")
        lines += [f"  {task.strip()}" for task in tasks[:10]]
    for key, heading in (("servers", "wsnb servers open then:"), ("clients", "wsnb clients then:")):
        if hang.get(key):
            lines.append(heading)
            lines += [f"  {entry}" for entry in hang[key]]
    return "\n".join(lines)


def failure_text(failure: Mapping[str, Any]) -> str:
    """One background failure: where it came from, during which cell, and its traceback.

    >>> print(failure_text({"source": "thread 'T'", "cell": "cell 2", "text": "Boom\\n"}))
    an exception in thread 'T' (during cell 2):
      Boom
    """
    head = f"an exception in {failure['source']} (during {failure['cell']}):"
    return head + "\n" + textwrap.indent(strip_ansi(failure["text"]).rstrip(), "  ")
