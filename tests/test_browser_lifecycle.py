"""The browser chat as a user meets it: the keyboard, a removed output, a server gone for good.

In Debian's Chromium through Playwright, in a plain page (test_jupyterlab.py
does the same inside a real JupyterLab, where a form alone does not submit
on Enter). Keys are pressed one by one, as a user types them.
"""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip(
    "playwright.async_api",
    exc_type=ImportError,
    reason="the playwright package is not installed (pip install playwright; it is in "
    "wsnb's [test] extra; no browser download is needed)",
)

from browser_helpers import (  # noqa: E402
    ChatServer,
    find_chromium,
    history_of,
    open_chat,
    open_html,
    serve_rooms,
    wait_for_members,
)
from helpers import free_port, serve_again, wait_until  # noqa: E402
from playwright.async_api import Browser  # noqa: E402

import wsnb  # noqa: E402

if find_chromium()[0] is None:
    pytest.skip(find_chromium()[1], allow_module_level=True)

pytestmark = pytest.mark.timeout(60)


_STATUS_RECORDER = """root => {
    window.wsnbStatuses = [];
    const line = root.querySelector(".wsnb-chat-status");
    const record = () => window.wsnbStatuses.push(root.dataset.state + ": " + line.textContent);
    new MutationObserver(record)
        .observe(line, {childList: true, characterData: true, subtree: true});
}"""


def members(rooms: wsnb.Rooms, room: str = "lobby") -> list[str]:
    """The room's members; none when the room is gone (an empty room may be forgotten)."""
    return rooms.members(room) if room in rooms.names() else []


async def until(predicate: object, timeout: float = 5.0) -> None:
    """Wait until ``predicate()`` is true (it reads the server's side)."""
    async with asyncio.timeout(timeout):
        while not predicate():  # type: ignore[operator]
            await asyncio.sleep(0.02)


# a. the keyboard ------------------------------------------------------------------------------


async def test_enter_sends_shift_enter_starts_a_line_and_the_focus_stays(
    browser: Browser, chat_server: ChatServer
) -> None:
    rooms, server = chat_server
    ada = await open_chat(browser, server, "lobby", "ada")
    bob = await open_chat(browser, server, "lobby", "bob")
    await ada.page.evaluate(
        "window.keysSeen = 0; document.addEventListener('keydown', () => window.keysSeen++)"
    )

    await ada.type_and_enter("sent with Enter")
    await bob.wait_for_text("sent with Enter")
    assert await ada.input.input_value() == ""
    assert await ada.focused()  # the next message can be typed at once

    await ada.input.press_sequentially("line one")
    await ada.input.press("Shift+Enter")
    await ada.input.press_sequentially("line two")
    await asyncio.sleep(0.3)
    assert history_of(rooms) == [(1, "ada", "sent with Enter")]  # Shift+Enter did not send
    await ada.input.press("Enter")
    await bob.wait_for_text("line one\nline two")
    assert await ada.focused()

    await ada.input.press_sequentially("   ")
    await ada.input.press("Enter")  # blank: nothing is sent
    await ada.say("clicked")  # the Send button still works
    await bob.wait_for_text("clicked")
    assert [body for _, _, body in history_of(rooms)] == [
        "sent with Enter",
        "line one\nline two",
        "clicked",
    ]
    # None of the keys typed in the box reached the page's own shortcuts.
    assert await ada.page.evaluate("window.keysSeen") == 0
    assert ada.errors == bob.errors == []


# b. the output goes: the chat leaves for good -------------------------------------------------


async def test_a_removed_or_replaced_chat_leaves_the_room_and_never_comes_back(
    browser: Browser, chat_server: ChatServer
) -> None:
    rooms, server = chat_server

    def chats(*names: str) -> str:
        return "".join(wsnb.BrowserChat(server, name=n)._repr_html_() for n in names)

    page = await open_html(browser, f'<div id="out">{chats("ada", "bob")}</div>')
    await until(lambda: members(rooms) == ["ada", "bob"])

    # A re-run cell: the output's HTML is replaced by new chats of the same names.
    for _ in range(2):
        await page.page.evaluate(
            "html => { const out = document.getElementById('out'); out.innerHTML = '';"
            " const range = document.createRange(); range.selectNode(out);"
            " out.appendChild(range.createContextualFragment(html)); }",
            chats("ada", "bob"),
        )
        await until(lambda: sorted(members(rooms)) == ["ada", "bob"])
    await wait_for_members(page, "In lobby (2): ada, bob")
    assert len(server.connections) == 2  # no ghost is still connected

    # A cleared output: nobody is left, and nothing tries to come back.
    await page.page.evaluate("document.getElementById('out').innerHTML = ''")
    await until(lambda: members(rooms) == [] and not server.connections)
    port = server.port
    await server.stop()
    server = await serve_again(rooms, port, name="chat")
    await asyncio.sleep(1.0)
    assert server.connections == [] and members(rooms) == []
    assert page.errors == []


# c. the server goes for good ------------------------------------------------------------------


async def test_a_server_that_stopped_and_stays_away_ends_in_a_clear_stopped_state(
    browser: Browser,
) -> None:
    rooms = wsnb.Rooms()
    server = await serve_rooms(rooms)
    page = await open_chat(browser, server, "lobby", "ada", give_up_after=1.5)
    port = server.port
    await server.stop()

    trying = await page.status_in_state("reconnecting")
    assert trying.startswith("The server stopped (1001, going away: the server stopped)")
    assert "in case it restarts" in trying
    status = await page.status_in_state("stopped")
    assert status.startswith("The server is gone: it stopped (1001, going away")
    assert "Re-run the cell to connect again." in status

    server = await serve_rooms(rooms, port=port)  # too late: the chat has stopped trying
    await asyncio.sleep(1.0)
    assert server.connections == [] and await page.state() == "stopped"
    assert page.errors == []


async def test_a_connection_cut_without_a_close_frame_says_what_1006_means(
    browser: Browser, chat_server: ChatServer
) -> None:
    rooms, server = chat_server
    page = await open_chat(browser, server, "lobby", "ada")
    await page.root.evaluate(_STATUS_RECORDER)
    assert wsnb.faults.drop_connections(server) == 1
    # "open" may still be the state from before the page saw the drop: wait for the
    # page to say it is reconnecting, then for the rejoin as the server sees it.
    await page.page.wait_for_function(
        "window.wsnbStatuses.some(s => s.startsWith('reconnecting'))", timeout=10_000
    )
    await page.wait_state("open")
    await wait_until(lambda: members(rooms) == ["ada"], "ada rejoined after the drop")
    statuses: list[str] = await page.page.evaluate("window.wsnbStatuses")
    assert (
        "reconnecting: Disconnected (1006, no close frame: the server's process ended or the "
        "network dropped); reconnecting in"
    ) in "\n".join(statuses)
    assert members(rooms) == ["ada"]


async def test_nothing_listening_for_long_ends_the_retries(browser: Browser) -> None:
    port = free_port()
    page = await open_chat(
        browser, f"ws://127.0.0.1:{port}", "lobby", "ada", state=None, give_up_after=1
    )
    status = await page.status_in_state("stopped")
    assert f"Cannot reach ws://127.0.0.1:{port} from this page; stopped trying after 1 s" in status
    assert "docs/browser.md" in status and "Re-run the cell" in status
