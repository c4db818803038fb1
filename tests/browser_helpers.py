"""Driving wsnb.BrowserChat in a real Chromium with Playwright's async API.

Used by tests/test_browser.py. Playwright drives Debian's Chromium (not
Playwright's own browser download): :func:`find_chromium` takes
``$WSNB_CHROMIUM``, or ``chromium`` on PATH, or /usr/bin/chromium. The
server side: :func:`serve_rooms`, :func:`history_of` (what the server
stored) and :func:`barrier` (everything published so far has reached the
pages).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections.abc import AsyncIterator
from typing import Any

import pytest
from playwright.async_api import Browser, Locator, Page, async_playwright

import wsnb

#: Flags for a headless Chromium in a container, with nothing talking to the network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]

#: Default wait for anything in a page, in seconds.
WAIT = 5.0


def find_chromium() -> tuple[str | None, str]:
    """The Chromium to drive, or None and why not.

    ``$WSNB_CHROMIUM`` if set (and then only it), else ``chromium`` on PATH,
    else /usr/bin/chromium.
    """
    chosen = os.environ.get("WSNB_CHROMIUM")
    if chosen:
        if os.path.isfile(chosen) and os.access(chosen, os.X_OK):
            return chosen, ""
        return None, f"WSNB_CHROMIUM={chosen} is not an executable file"
    for candidate in (shutil.which("chromium"), "/usr/bin/chromium"):
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate, ""
    return None, (
        "Chromium not found (install Debian's chromium package, as .ci/run does, "
        "or set WSNB_CHROMIUM)"
    )


@contextlib.asynccontextmanager
async def launched_chromium() -> AsyncIterator[Browser]:
    """Chromium through Playwright, closed at the end (a test module skips first without it).

    One per test: Playwright's async objects belong to the loop that made
    them, and each test has its own loop.
    """
    chromium, why_not = find_chromium()
    if chromium is None:
        pytest.skip(why_not)
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=chromium, args=CHROMIUM_ARGS, timeout=30_000
        )
        try:
            yield launched
        finally:
            await launched.close()


ChatServer = tuple[wsnb.Rooms, wsnb.Server]


_STATE_RECORDER = """root => {
    window.wsnbStates = [];
    new MutationObserver(() => window.wsnbStates.push(root.dataset.state))
        .observe(root, {attributes: true, attributeFilter: ["data-state"]});
}"""

_MESSAGES = """items => items.map(item => ({
    seq: Number(item.dataset.seq),
    from: item.querySelector(".wsnb-chat-from").textContent,
    text: item.querySelector(".wsnb-chat-text").textContent,
}))"""

_LIST_ITEMS = """items => items.map(item => item.classList.contains("wsnb-chat-note")
    ? "note: " + item.textContent : "#" + item.dataset.seq)"""


class ChatPage:
    """One page showing one BrowserChat, with what a test needs to read and type."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.errors: list[str] = []
        """Uncaught JavaScript exceptions in the page."""
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.root: Locator = page.locator(".wsnb-chat")
        self.status: Locator = page.locator(".wsnb-chat-status")
        self.members: Locator = page.locator(".wsnb-chat-members")
        self.input: Locator = page.get_by_label("message")
        self.send_button: Locator = page.get_by_role("button", name="Send")

    async def wait_state(self, state: str, timeout: float = WAIT) -> None:
        """Wait until the chat's ``data-state`` is ``state``."""
        await self.page.wait_for_selector(
            f'.wsnb-chat[data-state="{state}"]', state="attached", timeout=timeout * 1000
        )

    async def state(self) -> str | None:
        return await self.root.get_attribute("data-state")

    async def status_in_state(self, state: str, timeout: float = WAIT) -> str:
        """The status line's text at a moment the chat is in ``state``, both read at once.

        Reading the text after :meth:`wait_state` races the chat's own retry
        timer, which may have moved it on (to "connecting") in between.
        """
        text = await self.page.wait_for_function(
            """state => {
                const root = document.querySelector(".wsnb-chat");
                return root && root.dataset.state === state
                    ? root.querySelector(".wsnb-chat-status").textContent : null;
            }""",
            arg=state,
            timeout=timeout * 1000,
        )
        return str(await text.json_value())

    async def record_states(self) -> None:
        """From now on, remember every value ``data-state`` takes (see :meth:`states`)."""
        await self.root.evaluate(_STATE_RECORDER)

    async def states(self) -> list[str]:
        """The states recorded since :meth:`record_states`, repeats collapsed."""
        recorded: list[str] = await self.page.evaluate("window.wsnbStates")
        return [s for i, s in enumerate(recorded) if i == 0 or recorded[i - 1] != s]

    async def say(self, text: str) -> None:
        """Type ``text`` in the input box and click Send."""
        await self.input.fill(text)
        await self.send_button.click()

    async def type_and_enter(self, text: str) -> None:
        """Click in the box, type ``text`` key by key and press Enter, as a user does."""
        await self.input.click()
        await self.input.press_sequentially(text)
        await self.input.press("Enter")

    async def focused(self) -> bool:
        """Whether the message box has the keyboard focus."""
        return bool(await self.input.evaluate("box => document.activeElement === box"))

    async def messages(self) -> list[dict[str, Any]]:
        """The chat messages shown, in page order: ``{"seq", "from", "text"}``."""
        items = self.page.locator("li.wsnb-chat-message")
        shown: list[dict[str, Any]] = await items.evaluate_all(_MESSAGES)
        return shown

    async def texts(self) -> list[str]:
        return [m["text"] for m in await self.messages()]

    async def seqs(self) -> list[int]:
        return [m["seq"] for m in await self.messages()]

    async def notes(self) -> list[str]:
        notes: list[str] = await self.page.locator("li.wsnb-chat-note").all_text_contents()
        return notes

    async def list_items(self) -> list[str]:
        """Every line of the list in order: ``"#3"`` for a message, ``"note: ..."`` for a note."""
        items: list[str] = await self.page.locator(".wsnb-chat-messages li").evaluate_all(
            _LIST_ITEMS
        )
        return items

    async def wait_for_text(self, text: str, timeout: float = WAIT) -> None:
        """Wait until a message with exactly this text is shown."""
        await self.page.wait_for_function(
            """text => [...document.querySelectorAll("li.wsnb-chat-message .wsnb-chat-text")]
                   .some(span => span.textContent === text)""",
            arg=text,
            timeout=timeout * 1000,
        )

    async def wait_for_count(self, count: int, timeout: float = WAIT) -> None:
        """Wait until at least ``count`` messages are shown."""
        await self.page.wait_for_function(
            'n => document.querySelectorAll("li.wsnb-chat-message").length >= n',
            arg=count,
            timeout=timeout * 1000,
        )

    async def wait_for_note(self, fragment: str, timeout: float = WAIT) -> None:
        await self.page.wait_for_function(
            """text => [...document.querySelectorAll("li.wsnb-chat-note")]
                   .some(item => item.textContent.includes(text))""",
            arg=fragment,
            timeout=timeout * 1000,
        )


async def open_chat(
    browser: Browser,
    target: wsnb.Server | str,
    room: str = "lobby",
    name: str = "browser",
    *,
    state: str | None = "open",
    **options: Any,
) -> ChatPage:
    """A new page showing ``wsnb.BrowserChat(target, room, name)``; waits for ``state``."""
    page = ChatPage(await browser.new_page())
    html = wsnb.BrowserChat(target, room=room, name=name, **options)._repr_html_()
    await page.page.set_content(html)
    if state is not None:
        await page.wait_state(state)
    return page


async def open_html(browser: Browser, html: str) -> ChatPage:
    """A new page with ``html`` as its content (several chats, say)."""
    page = ChatPage(await browser.new_page())
    await page.page.set_content(html)
    return page


# -- the server side of a chat ---------------------------------------------------------


async def serve_rooms(rooms: wsnb.Rooms | None = None, port: int = 0) -> wsnb.Server:
    """``rooms`` (a new ``wsnb.Rooms()`` by default) served as "chat"."""
    return await wsnb.serve(rooms if rooms is not None else wsnb.Rooms(), name="chat", port=port)


async def next_message(client: wsnb.RoomsClient, timeout: float = 5) -> dict[str, Any]:
    """The next ``message`` event (presence events are skipped)."""
    async with asyncio.timeout(timeout):
        while True:
            event = await client.next_event()
            if event["type"] == "message":
                return event


def history_of(rooms: wsnb.Rooms, room: str = "lobby") -> list[tuple[int, str, Any]]:
    """The room's history on the server: (seq, from, body)."""
    return [(m["seq"], m["data"]["from"], m["data"]["body"]) for m in rooms.history(room)]


async def barrier(rooms: wsnb.Rooms, *pages: ChatPage, room: str = "lobby") -> None:
    """Publish a marker and wait for it in every page.

    Messages reach a page in order on its one connection, so once the marker
    is shown, everything published before it has been handled: a duplicate
    would be on the page by now.
    """
    seq = rooms.publish(room, "(barrier)")
    for page in pages:
        await page.page.wait_for_function(
            """seq => document.querySelector(`li.wsnb-chat-message[data-seq="${seq}"]`)""",
            arg=seq,
            timeout=5000,
        )


async def wait_for_members(page: ChatPage, text: str, timeout: float = WAIT) -> None:
    """Wait until the members line reads ``text`` (``"In lobby (2): ada, bob"``)."""
    await page.page.wait_for_function(
        'text => document.querySelector(".wsnb-chat-members").textContent === text',
        arg=text,
        timeout=timeout * 1000,
    )


async def stop_and_wait_for_reconnecting(server: wsnb.Server, page: ChatPage) -> int:
    """Stop ``server``; once ``page`` is reconnecting, return the port to serve again on."""
    port = server.port
    await server.stop()
    await page.wait_state("reconnecting")
    return port
