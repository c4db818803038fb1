"""HTML for notebook reprs: objects hand plain data in, escaped HTML comes out.

Every value is escaped here, so text that came from a client (a name, a
message) can never become markup in the notebook.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape

__all__ = ["html_card", "html_table"]

_CARD_STYLE = "border:1px solid #ccc;border-radius:4px;padding:4px 8px;display:inline-block"


def html_table(headers: Sequence[object], rows: Iterable[Sequence[object]]) -> str:
    """Render a table; every header and cell is converted with ``str`` and escaped.

    >>> html_table(["name"], [["<b>"]])
    '<table><thead><tr><th>name</th></tr></thead><tbody><tr><td>&lt;b&gt;</td></tr></tbody></table>'
    """
    head = "".join(f"<th>{escape(str(h))}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(str(cell))}</td>" for cell in row) + "</tr>" for row in rows
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
