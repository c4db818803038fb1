"""wsnb.display.html_table: text columns left-aligned on request, every value escaped."""

from __future__ import annotations

import re

from wsnb.display import html_table

LEFT = ' style="text-align:left"'


def cells(html: str, tag: str) -> list[str]:
    return re.findall(rf"<{tag}([^>]*)>([^<]*)</{tag}>", html)  # type: ignore[return-value]


def test_text_columns_go_left_and_number_columns_stay_right() -> None:
    html = html_table(
        ["seq", "from", "message", "size"],
        [[1, "ada", "hello <b>", 2.5], [2, "bob", "hi", 3]],
        text_left=True,
    )
    assert cells(html, "th") == [("", "seq"), (LEFT, "from"), (LEFT, "message"), ("", "size")]
    assert cells(html, "td")[:4] == [
        ("", "1"),
        (LEFT, "ada"),
        (LEFT, "hello &lt;b&gt;"),
        ("", "2.5"),
    ]


def test_a_column_with_any_text_is_a_text_column_and_booleans_are_not_numbers() -> None:
    html = html_table(["n", "ok"], [[1, True], ["-", False]], text_left=True)
    assert [style for style, _ in cells(html, "th")] == [LEFT, LEFT]


def test_text_left_is_the_default_and_can_be_turned_off() -> None:
    assert LEFT in html_table(["name"], [["ada"]])
    assert LEFT not in html_table(["name"], [["ada"]], text_left=False)
    # No rows: nothing to align.
    assert html_table(["a"], [], text_left=True) == html_table(["a"], [])
