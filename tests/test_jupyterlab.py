"""Notebook 08 inside a real JupyterLab, as a learner runs it: Enter, re-runs, restarts, Run All.

A plain page (test_browser*.py) cannot see what JupyterLab's output area
changes: there, a form does not submit on Enter, and the notebook's keyboard
shortcuts listen to the whole page. So JupyterLab itself runs here, started
from this venv on a free port (one per module, about 10-20 s), with the
kernel of this venv, and Debian's Chromium (through Playwright) opens a copy
of notebooks/08_browser_client.ipynb, runs its cells, types in a chat and
presses Enter. Skipped, with the reason, without JupyterLab (the [test]
extra installs it), Playwright or a Chromium.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip(
    "playwright.async_api",
    exc_type=ImportError,
    reason="the playwright package is not installed (it is in wsnb's [test] extra)",
)
pytest.importorskip(
    "jupyterlab",
    exc_type=ImportError,
    reason="JupyterLab is not installed (pip install jupyterlab; it is in wsnb's [test] extra)",
)

from browser_helpers import find_chromium  # noqa: E402
from jupyterlab_helpers import Lab, NotebookPage, start_lab  # noqa: E402
from playwright.async_api import Browser, Locator  # noqa: E402
from playwright.async_api import TimeoutError as PlaywrightTimeoutError  # noqa: E402

if find_chromium()[0] is None:
    pytest.skip(find_chromium()[1], allow_module_level=True)

# JupyterLab's start and a notebook's first load take most of it, on a busy 2-core machine.
pytestmark = pytest.mark.timeout(240)

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "08_browser_client.ipynb"


def cell_index(fragment: str) -> int:
    """The index of the one code cell of notebook 08 whose source holds ``fragment``."""
    cells = json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]
    found = [
        i
        for i, cell in enumerate(cells)
        if cell["cell_type"] == "code" and fragment in "".join(cell["source"])
    ]
    assert len(found) == 1, (fragment, found)
    return found[0]


SETUP = cell_index("rooms = wsnb.Rooms()")
CHATS = cell_index("wsnb.BrowserChat(")
PYTHON = cell_index("wsnb.subscribe(")
READ = cell_index("async def read_events")
ROOM = cell_index('rooms.room("lobby")')
STOP = cell_index("await server.stop()")
RESTART = cell_index("await python.wait_open()")
LAST = cell_index("wsnb.stop_all()\nprint")

# The chats of the notebook on screen (not of another tab).
CHATS_JS = 'window.wsnbNotebook.node.querySelectorAll(".wsnb-chat")'
MEMBER_LINES_JS = CHATS_JS.replace(".wsnb-chat", ".wsnb-chat-members")

ALL_OPEN = f"""() => {{ const chats = [...{CHATS_JS}];
    return chats.length === 2 && chats.every(chat => chat.dataset.state === "open"); }}"""

BOTH_SAY = f"""prefix => {{ const chats = [...{CHATS_JS}];
    return chats.length === 2 && chats.every(chat =>
        chat.querySelector(".wsnb-chat-status").textContent.startsWith(prefix)); }}"""

SERVER_STOPPED = "The server stopped (1001, going away"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    running = start_lab(
        tmp_path_factory.mktemp("jupyterlab"),
        {"08_browser_client.ipynb": NOTEBOOK},
    )
    try:
        yield running
    finally:
        running.stop()


def texts_js(chat: int) -> str:
    return (
        f"[...{CHATS_JS}[{chat}]"
        '.querySelectorAll("li.wsnb-chat-message .wsnb-chat-text")].map(s => s.textContent)'
    )


async def texts(nb: NotebookPage, chat: int) -> list[str]:
    shown: list[str] = await nb.page.evaluate(texts_js(chat))
    return shown


async def wait_for_text(nb: NotebookPage, chat: int, text: str) -> None:
    await nb.page.wait_for_function(f"text => ({texts_js(chat)}).includes(text)", arg=text)


def port_in(output: str) -> int:
    """The port of the server shown in the setup cell's output."""
    found = re.search(r"ws://127\.0\.0\.1:(\d+)", output)
    assert found, output
    return int(found.group(1))


async def statuses(nb: NotebookPage) -> list[str]:
    shown: list[str] = await nb.page.evaluate(
        f"""() => [...{CHATS_JS}].map(chat =>
            chat.dataset.state + ": " + chat.querySelector(".wsnb-chat-status").textContent)"""
    )
    return shown


async def wait_until_both_say(nb: NotebookPage, prefix: str, timeout: float = 15.0) -> None:
    """Wait until both chats' status lines start with ``prefix``; say what they say if not."""
    try:
        await nb.page.wait_for_function(BOTH_SAY, arg=prefix, timeout=timeout * 1000)
    except PlaywrightTimeoutError:
        raise AssertionError(f"not {prefix!r}: {await statuses(nb)}") from None


async def test_notebook_08_cell_by_cell_then_run_all_twice(browser: Browser, lab: Lab) -> None:
    nb = await NotebookPage.open(browser, lab, "08_browser_client.ipynb")
    ports: list[int] = []
    ports.append(port_in(await nb.run_cell(SETUP)))
    await nb.run_cell(CHATS)
    await nb.page.wait_for_function(ALL_OPEN, timeout=15_000)
    assert "published two messages" in await nb.run_cell(PYTHON)
    await wait_for_text(nb, 1, "hello from the kernel")
    cells = await nb.cell_count()

    # Type in ada's box as a user does, and press Enter. "a" and "b" typed in the notebook
    # (outside a box) would add cells: here they are only text.
    ada: Locator = nb.page.locator(".wsnb-chat").nth(0).locator("textarea")
    await ada.click()
    await ada.press_sequentially("a bit from ada's keyboard")
    await ada.press("Enter")
    await wait_for_text(nb, 1, "a bit from ada's keyboard")  # bob's chat
    assert await ada.input_value() == ""
    assert await ada.evaluate("box => document.activeElement === box")
    assert await nb.cell_count() == cells

    read = await nb.run_cell(READ)  # the kernel got it too
    assert "ada: a bit from ada's keyboard" in read, read

    # Re-run the chats' cell twice: the replaced chats leave; no ghost stays a member.
    for _ in range(2):
        await nb.run_cell(CHATS)
        await nb.page.wait_for_function(ALL_OPEN, timeout=15_000)
    await wait_until_both_say(nb, "Connected to ")
    await nb.page.wait_for_function(
        f"""() => [...{MEMBER_LINES_JS}]
            .every(line => line.textContent === "In lobby (3): python, ada, bob")""",
        timeout=5_000,
    )
    room = await nb.run_cell(ROOM)
    assert "members: python, ada, bob ·" in room, room

    # The restart, one cell at a time: 1001 is said, the missed message comes once.
    assert "stopped" in await nb.run_cell(STOP)
    await wait_until_both_say(nb, SERVER_STOPPED)
    restarted = await nb.run_cell(RESTART)
    assert re.search(r"#\d+ server: published while the server was down", restarted), restarted
    await nb.page.wait_for_function(ALL_OPEN, timeout=15_000)
    for chat in (0, 1):
        await wait_for_text(nb, chat, "published while the server was down")
        assert (await texts(nb, chat)).count("published while the server was down") == 1

    assert "stopped 1 server" in await nb.run_cell(LAST)
    await wait_until_both_say(nb, SERVER_STOPPED)
    assert await nb.error_outputs() == []

    # Then Run All, twice, in the same notebook and kernel.
    refused: list[str] = []
    nb.page.on(
        "console",
        lambda message: (
            refused.append(message.text) if "ERR_CONNECTION_REFUSED" in message.text else None
        ),
    )
    for _ in range(2):
        await nb.run_all()
        assert await nb.error_outputs() == []
        assert "stopped 1 server" in await nb.output(LAST)
        assert "server: published while the server was down" in await nb.output(RESTART)
        ports.append(port_in(await nb.output(SETUP)))
        await wait_until_both_say(nb, SERVER_STOPPED)
    # The chats of the earlier runs were replaced: none still knocks at its old server's port.
    assert len(set(ports)) == 3, ports
    before = len(refused)
    await nb.page.wait_for_timeout(3000)
    knocks = [text for text in refused[before:] if any(f":{p}/" in text for p in ports[:2])]
    assert knocks == [], knocks
    assert nb.errors == []
