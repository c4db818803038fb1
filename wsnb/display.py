"""HTML for notebook reprs: objects hand plain data in, escaped HTML comes out.

Every value is escaped here, so text that came from a client (a name, a
message) can never become markup in the notebook.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape

__all__ = ["html_card", "html_table"]

_CARD_STYLE = "border:1px solid #ccc;border-radius:4px;padding:4px 8px;display:inline-block"


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def html_table(
    headers: Sequence[object], rows: Iterable[Sequence[object]], *, text_left: bool = True
) -> str:
    """Render a table; every header and cell is converted with ``str`` and escaped.

    Columns that hold anything but numbers are left-aligned (JupyterLab
    right-aligns every table cell, which makes chat text and names hard to
    read); number columns stay right-aligned. ``text_left=False`` leaves the
    alignment to the notebook.

    >>> html_table(["name"], [["<b>"]], text_left=False)
    '<table><thead><tr><th>name</th></tr></thead><tbody><tr><td>&lt;b&gt;</td></tr></tbody></table>'
    >>> aligned = html_table(["seq", "text"], [[1, "hi"]])
    >>> '<td>1</td><td style="text-align:left">hi</td>' in aligned
    True
    """
    table = [list(row) for row in rows]
    left = [
        text_left and not all(_is_number(row[i]) for row in table if i < len(row))
        for i in range(len(headers))
    ]

    def cell(tag: str, value: object, column: int) -> str:
        style = ' style="text-align:left"' if column < len(left) and left[column] else ""
        return f"<{tag}{style}>{escape(str(value))}</{tag}>"

    head = "".join(cell("th", h, i) for i, h in enumerate(headers))
    body = "".join(
        "<tr>" + "".join(cell("td", value, i) for i, value in enumerate(row)) + "</tr>"
        for row in table
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def html_card(title: str, fields: Iterable[tuple[str, object]], extra: str = "") -> str:
    """Render a titled list of ``(label, value)`` pairs, all escaped.

    ``extra`` is trusted HTML appended below (for example an :func:`html_table`).

    >>> html_card("wsnb.Server", [("url", "ws://127.0.0.1:1")])  # doctest: +ELLIPSIS
    '<div ...><b>wsnb.Server</b> url: <code>ws://127.0.0.1:1</code></div>'
    """
    parts = " &middot; ".join(
        f"{escape(label)}: <code>{escape(str(value))}</code>" for label, value in fields
    )
    return f'<div style="{_CARD_STYLE}"><b>{escape(title)}</b> {parts}{extra}</div>'
