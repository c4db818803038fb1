"""One-line hints for the traps WebSocket notebooks fall into, shown under the error.

Each hint is matched on what the check saw: the error and background
tracebacks, the cell's new stderr, its source, and for a hang, the stack
where it waited. See docs/design.md for why each trap happens.

Example::

    >>> hints("RuntimeError: asyncio.run() cannot be called from a running event loop")[0][:40]
    'hint: a notebook cell already runs insid'
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["hints"]

#: (where to look, pattern, hint). "text": errors, tracebacks, stderr; "blocked": the
#: stack of a cell that blocked the loop; "stuck": the stack of a cell that ran out of time.
_RULES: list[tuple[str, re.Pattern[str], str]] = [
    (
        "text",
        re.compile(r"asyncio\.run\(\) cannot be called from a running event loop"),
        "a notebook cell already runs inside an event loop: write `await main()` instead of "
        "`asyncio.run(main())`, or `wsnb.run(main())` for code that must also run as a script",
    ),
    (
        "text",
        re.compile(r"websockets[/\\]sync[/\\]client\.py(.|\n)*(TimeoutError|timed out)"),
        "a blocking client (websockets.sync) in a cell cannot reach a server on the kernel's own "
        "loop, which waits for the cell: `async with wsnb.connect(url)`, or "
        "`await asyncio.to_thread(...)`, or serve with `wsnb.serve_in_thread`",
    ),
    (
        "blocked",
        re.compile(r"websockets[/\\]sync[/\\]"),
        "a blocking client (websockets.sync) in a cell cannot reach a server on the kernel's own "
        "loop, which waits for the cell: `async with wsnb.connect(url)`, or "
        "`await asyncio.to_thread(...)`, or serve with `wsnb.serve_in_thread`",
    ),
    (
        "text",
        re.compile(r"coroutine '[^']+' was never awaited|'coroutine' object (is not|has no)"),
        "a coroutine was called but not awaited: put `await` before the call",
    ),
    (
        "stuck",
        re.compile(r"serve_forever|run_forever|await asyncio\.Future\(\)|create_future\(\)"),
        "serve_forever() (or awaiting a future nobody sets) never returns, so the cell never "
        "ends: `server = await wsnb.serve(handler)` keeps serving in the background; stop it "
        "in the last cell",
    ),
    (
        "stuck",
        re.compile(r"async for \w+ in \w+"),
        "`async for message in ws` ends only when the connection closes: break out after the "
        "messages you need, or bound it with `async with asyncio.timeout(seconds)`",
    ),
    (
        "stuck",
        re.compile(r"\.recv\(\)"),
        "nothing arrived: `await asyncio.wait_for(ws.recv(), 5)` fails in 5 s instead of "
        "hanging, and says so",
    ),
    (
        "text",
        re.compile(
            r"(no running event loop|no current event loop)(.|\n)*websockets|"
            r"websockets[/\\]legacy(.|\n)*(no running event loop|no current event loop)"
        ),
        "websockets' legacy API needs an event loop running in its thread: "
        "`wsnb.serve_in_thread(handler)` runs a server on a loop of its own, or use "
        "`websockets.asyncio.server.serve` on the kernel's loop",
    ),
    (
        "text",
        re.compile(r"ModuleNotFoundError: No module named '([^'.]+)"),
        "the kernel's Python has no module {0!r}: install it where the check runs "
        "(`python -m pip install {0}`); `wsnb check` runs this environment's Python",
    ),
    (
        "text",
        re.compile(r"\[Errno 98\]|address already in use", re.IGNORECASE),
        "the port is taken, often by a server an earlier run of the cell left behind: "
        "`wsnb.serve` replaces its own server on re-run; serve on port 0 for a free port",
    ),
]


#: A hint (by its first 20 characters) is left out when an earlier one says more.
_UNLESS = {
    "a coroutine was call": "asyncio.run(main())",  # asyncio.run(main()) leaves main() unawaited
    "`async for message i": "never ends",
    "nothing arrived: `aw": "never ends",
}


def hints(text: str = "", *, source: str = "", hang: Mapping[str, Any] | None = None) -> list[str]:
    """The hints for what a check saw, one line each, most specific first.

    ``text`` holds errors, tracebacks and stderr; ``source`` the cell's code;
    ``hang`` the probe's snapshot if the cell ran out of time.

    >>> hints("ModuleNotFoundError: No module named 'aiohttp'")[0][:45]
    "hint: the kernel's Python has no module 'aioh"
    """
    stack = hang.get("stack", "") if hang else ""
    found: list[str] = []
    for where, pattern, hint in _RULES:
        if where == "text":
            match = pattern.search(text)
        elif where == "blocked":
            match = pattern.search(stack) if hang and hang.get("blocked") else None
        else:  # "stuck": where the cell was when its time ran out
            match = pattern.search(_cell_lines(stack))
        if match is None or any(_UNLESS.get(hint[:20], "\0") in f for f in found):
            continue
        line = "hint: " + hint.format(*(g for g in match.groups() if g is not None))
        if line not in found:
            found.append(line)
    return found[:3]


def _cell_lines(stack: str) -> str:
    """The frames of a hang's stack that are in cells, and the last frame: where it waits."""
    frames = re.findall(r"^  (\S.*)\n(    .*)$", stack, re.MULTILINE)
    kept = [f for i, f in enumerate(frames) if f[0].startswith("cell ") or i == len(frames) - 1]
    return "\n".join(f"{where}\n{line}" for where, line in kept)
