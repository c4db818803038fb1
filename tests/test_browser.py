"""wsnb.BrowserChat in a real browser: Chromium, driven by Playwright's async API.

The chat's HTML and JavaScript (wsnb/browser.py, wsnb/static/chat.js) are
loaded into a page as a notebook would display them; the page opens a real
WebSocket to a wsnb.Rooms server that runs on the test's own event loop, next
to Python clients. Skipped, with the reason, without the playwright package
or a Chromium (Debian's, as .ci/run installs; or $WSNB_CHROMIUM).

One browser per test: Playwright's async objects belong to the loop that
made them, and each test has its own loop (and its own wsnb servers).
Launching takes about a second. The chat's keyboard and its lifecycle (a
removed output, a server gone for good) are in test_browser_lifecycle.py;
the chat inside a real JupyterLab in test_jupyterlab.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools

import pytest

pytest.importorskip(
    "playwright.async_api",
    exc_type=ImportError,
    reason="the playwright package is not installed (pip install playwright; it is in "
    "wsnb's [test] extra; no browser download is needed)",
)

from browser_helpers import (  # noqa: E402
    ChatServer,
    barrier,
    find_chromium,
    history_of,
    next_message,
    open_chat,
    open_html,
    serve_rooms,
    stop_and_wait_for_reconnecting,
)
from helpers import free_port, serve_again  # noqa: E402
from playwright.async_api import Browser  # noqa: E402
from playwright.async_api import TimeoutError as PlaywrightTimeoutError  # noqa: E402

import wsnb  # noqa: E402
from wsnb.core import RoomLimits  # noqa: E402

CHROMIUM, WHY_NOT = find_chromium()
if CHROMIUM is None:
    pytest.skip(WHY_NOT, allow_module_level=True)

pytestmark = pytest.mark.timeout(60)


# a. two pages and a Python client chat ------------------------------------------------------


async def test_two_pages_and_a_python_client_chat(
    browser: Browser, chat_server: ChatServer
) -> None:
    rooms, server = chat_server
    ada = await open_chat(browser, server, "lobby", "ada")
    bob = await open_chat(browser, server, "lobby", "bob")
    async with await wsnb.RoomsClient.connect(server, name="cy") as cy:
        await cy.join("lobby")
        await bob.page.wait_for_function(
            'document.querySelector(".wsnb-chat-members").textContent'
            ' === "In lobby (3): ada, bob, cy"',
            timeout=5000,
        )
        assert "cy joined." in await bob.notes()

        await ada.say("hello from ada")
        await bob.wait_for_text("hello from ada")
        assert await bob.messages() == [{"seq": 1, "from": "ada: ", "text": "hello from ada"}]
        await ada.wait_for_text("hello from ada")  # the sender sees its own message too
        assert await ada.input.input_value() == ""
        assert history_of(rooms) == [(1, "ada", "hello from ada")]

        event = await next_message(cy)
        assert event["room"] == "lobby" and event["seq"] == 1
        assert event["data"]["from"] == "ada" and event["data"]["body"] == "hello from ada"

        assert await cy.publish("lobby", "hi from python") == 2
        for page in (ada, bob):
            await page.wait_for_text("hi from python")
            assert await page.messages() == [
                {"seq": 1, "from": "ada: ", "text": "hello from ada"},
                {"seq": 2, "from": "cy: ", "text": "hi from python"},
            ]
        assert rooms.members("lobby") == ["ada", "bob", "cy"]
    # cy has gone: the member lists follow the presence delta (docs/protocol.md).
    for page in (ada, bob):
        await page.page.wait_for_function(
            'document.querySelector(".wsnb-chat-members").textContent === "In lobby (2): ada, bob"',
            timeout=5000,
        )
        assert "cy left." in await page.notes()
    assert ada.errors == bob.errors == []


# b. text from the network is text ------------------------------------------------------------


PAYLOAD = "<img src=x onerror=window.pwned=1><script>window.pwned=1</script>"
EVIL_NAME = "<img src=x onerror=pwned=2>"


async def test_html_in_messages_and_names_is_shown_as_text(
    browser: Browser, chat_server: ChatServer
) -> None:
    rooms, server = chat_server
    reader = await open_chat(browser, server, "lobby", "reader")
    evil = await open_chat(browser, server, "lobby", EVIL_NAME)

    await evil.say(PAYLOAD)
    await reader.wait_for_text(PAYLOAD)
    assert await reader.messages() == [{"seq": 1, "from": EVIL_NAME + ": ", "text": PAYLOAD}]
    assert await reader.members.text_content() == f"In lobby (2): reader, {EVIL_NAME}"
    assert f"{EVIL_NAME} joined." in await reader.notes()
    # The name in the input's placeholder (put there by Python's escaping) is text too.
    assert await evil.input.get_attribute("placeholder") == f"Message lobby as {EVIL_NAME}"
    assert history_of(rooms) == [(1, EVIL_NAME, PAYLOAD)]

    for page in (reader, evil):
        # The same markup inserted as HTML does run here, and quickly: a positive control,
        # so that "not run" below means something.
        await page.page.evaluate(
            "document.body.insertAdjacentHTML('beforeend', "
            "'<img src=x onerror=\"window.control=1\">')"
        )
        await page.page.wait_for_function("window.control === 1", timeout=5000)
        assert await page.page.evaluate("window.pwned") is None
        assert await page.page.locator(".wsnb-chat img, .wsnb-chat-messages script").count() == 0
        assert page.errors == []


async def test_quotes_and_markup_in_room_and_name_cannot_leave_their_attributes(
    browser: Browser, chat_server: ChatServer
) -> None:
    room = 'x"><img src=x onerror=pwned=3>'
    name = 'o\'brien "<b>"'
    rooms, server = chat_server
    page = await open_chat(browser, server, room, name)
    assert await page.root.get_attribute("data-room") == room
    assert await page.root.get_attribute("data-name") == name
    assert rooms.names() == [room] and rooms.members(room) == [name]
    await page.say("hi")
    await page.wait_for_text("hi")
    assert await page.messages() == [{"seq": 1, "from": f"{name}: ", "text": "hi"}]
    assert await page.page.evaluate("window.pwned") is None
    assert await page.page.locator("img").count() == 0
    assert page.errors == []


# c. a newcomer sees the history ---------------------------------------------------------------


async def test_a_newcomer_sees_the_history_in_order(
    browser: Browser, chat_server: ChatServer
) -> None:
    rooms, server = chat_server
    published = [f"early {i}" for i in range(1, 5)]
    for body in published:
        rooms.publish("lobby", body)
    rooms.publish("lobby", {"not": "text", "n": [1, 2]})

    page = await open_chat(browser, server, "lobby", "late")
    await page.wait_for_count(5)
    assert await page.seqs() == [1, 2, 3, 4, 5]
    assert await page.texts() == [*published, '{"not":"text","n":[1,2]}']
    assert {m["from"] for m in await page.messages()} == {"server: "}
    await barrier(rooms, page)
    assert await page.seqs() == [1, 2, 3, 4, 5, 6]
    assert page.errors == []


# d, e. the server goes away and comes back --------------------------------------------------


async def test_the_page_reconnects_and_catches_up_exactly_once(
    browser: Browser, chat_server: ChatServer
) -> None:
    rooms, server = chat_server
    page = await open_chat(browser, server, "lobby", "ada")
    rooms.publish("lobby", "before 1")
    rooms.publish("lobby", "before 2")
    await page.wait_for_count(2)
    await page.record_states()

    port = await stop_and_wait_for_reconnecting(server, page)
    missed = [f"while down {i}" for i in range(1, 6)]
    for body in missed:
        rooms.publish("lobby", body)
    server = await serve_again(rooms, port, name="chat")

    await page.wait_state("open")
    await page.wait_for_text("while down 5")
    await barrier(rooms, page)
    assert await page.seqs() == list(range(1, 9))  # each once, in order
    assert await page.texts() == ["before 1", "before 2", *missed, "(barrier)"]
    assert await page.states() == ["reconnecting", "open"]
    assert await page.notes() == []  # nothing lost, nothing to say
    assert rooms.members("lobby") == ["ada"]
    assert page.errors == []


async def test_a_gap_older_than_the_history_is_announced(browser: Browser) -> None:
    rooms = wsnb.Rooms(limits=RoomLimits(history_size=5))
    server = await serve_rooms(rooms)
    page = await open_chat(browser, server, "lobby", "ada")
    rooms.publish("lobby", "seen")
    await page.wait_for_count(1)

    port = await stop_and_wait_for_reconnecting(server, page)
    for i in range(2, 22):
        rooms.publish("lobby", f"while down {i}")  # seq 2..21; the history keeps 17..21
    server = await serve_again(rooms, port, name="chat")

    await page.wait_for_note("Some messages could not be recovered")
    await page.wait_for_text("while down 21")
    assert await page.notes() == ["Some messages could not be recovered (gap_too_old)."]
    assert await page.list_items() == [
        "#1",
        "note: Some messages could not be recovered (gap_too_old).",
        "#17",
        "#18",
        "#19",
        "#20",
        "#21",
    ]
    await barrier(rooms, page)
    assert await page.seqs() == [1, 17, 18, 19, 20, 21, 22]
    assert page.errors == []


# f. nothing listens --------------------------------------------------------------------------


async def test_an_unreachable_server_says_so_and_connects_once_it_is_there(
    browser: Browser,
) -> None:
    port = free_port()
    page = await open_chat(browser, f"ws://127.0.0.1:{port}", "lobby", "ada", state=None)
    status = await page.status_in_state("unreachable")
    assert f"Cannot reach ws://127.0.0.1:{port} from this page" in status
    assert "jupyter-server-proxy" in status
    assert "Retrying in" in status

    # It keeps trying: a server that appears on that port is found.
    rooms = wsnb.Rooms()
    await serve_rooms(rooms, port=port)
    await page.wait_state("open")
    assert rooms.members("lobby") == ["ada"]
    assert page.errors == []


# g. the outbox -------------------------------------------------------------------------------


async def test_messages_typed_while_disconnected_are_sent_after_reconnecting(
    browser: Browser, chat_server: ChatServer
) -> None:
    rooms, server = chat_server
    page = await open_chat(browser, server, "lobby", "ada")
    await page.say("online")
    await page.wait_for_text("online")

    port = await stop_and_wait_for_reconnecting(server, page)
    typed = ["offline 1", "offline 2", "offline 3"]
    for text in typed:
        await page.say(text)
        assert await page.input.input_value() == ""
    assert history_of(rooms) == [(1, "ada", "online")]  # nothing went out yet

    server = await serve_again(rooms, port, name="chat")
    await page.wait_state("open")
    await page.wait_for_text("offline 3")
    await barrier(rooms, page)
    assert history_of(rooms) == [
        (1, "ada", "online"),
        (2, "ada", "offline 1"),
        (3, "ada", "offline 2"),
        (4, "ada", "offline 3"),
        (5, "server", "(barrier)"),
    ]
    assert await page.texts() == ["online", *typed, "(barrier)"]
    assert page.errors == []


# Bugs found -----------------------------------------------------------------------------------


async def test_history_forgotten_under_a_live_page_does_not_hide_new_messages(
    browser: Browser, chat_server: ChatServer
) -> None:
    """BUG (chat.js): live messages from a new epoch are silently dropped.

    ``rooms.forget_history()`` (notebook 06's "as if the server restarted
    without its storage") starts a new epoch at seq 1. The Python subscriber
    notices the new epoch on the next live message and reports ``lost``
    (tests/test_subscriber.py::test_history_forgotten_under_a_live_connection
    _is_reported_too); chat.js never looks at ``message.epoch``, so its
    ``accept()`` discards seq 1..N as "already shown" and the page shows
    nothing until the new epoch passes the old seq; then it shows a message
    from another epoch as if it followed the old ones.
    """
    rooms, server = chat_server
    page = await open_chat(browser, server, "lobby", "ada")
    for i in (1, 2, 3):
        rooms.publish("lobby", f"old {i}")
    await page.wait_for_count(3)

    rooms.forget_history()
    for i in (1, 2, 3, 4):
        rooms.publish("lobby", f"new {i}")  # seq 1..4 in a new epoch

    await page.wait_for_text("new 4")
    assert await page.texts() == ["old 1", "old 2", "old 3", "new 1", "new 2", "new 3", "new 4"]
    assert any("could not be recovered" in note for note in await page.notes())


async def test_a_message_sent_just_before_a_drop_is_sent_again(
    browser: Browser, chat_server: ChatServer
) -> None:
    """BUG (chat.js): a publish in flight when the connection drops is lost for good.

    docs/design.md: "Publishing is at least once: a publish in flight when the
    connection drops is sent again", and chat.js says it "resumes like the
    Python subscriber". But chat.js forgets a publish frame once
    ``ws.send()`` returns: only text typed while *not* joined goes to the
    outbox. Here the server stops reading the page's connection (as a
    congested network would), the user sends, and the connection drops: the
    page reconnects and resumes, and the message is never published, without
    a word to the user (whose input box was cleared).
    """
    rooms, server = chat_server
    page = await open_chat(browser, server, "lobby", "ada")
    [connection] = server.connections
    wsnb.faults.stall(connection)
    await page.say("in flight")
    await asyncio.sleep(0.3)  # the frame leaves the page and waits, unread, on the server
    assert history_of(rooms) == []
    assert wsnb.faults.drop_connections(server) == 1

    await page.wait_state("reconnecting")
    await page.wait_state("open")
    await barrier(rooms, page)
    assert [body for _, _, body in history_of(rooms)].count("in flight") == 1


async def test_a_chat_displayed_after_a_kernel_restart_is_not_confused_with_an_old_one(
    browser: Browser, chat_server: ChatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """BUG (browser.py): element ids repeat across kernels, so a new chat can stay "loading".

    ``_repr_html_`` numbers elements ``wsnb-chat-1``, ``-2``... per kernel
    process, and the script finds its element with
    ``document.getElementById``. After a kernel restart the numbering starts
    again, while JupyterLab still shows the old outputs (and re-runs their
    scripts when a saved, trusted notebook is opened; notebook 08 stores
    ``wsnb-chat-1`` and ``-2``). A chat displayed in the new kernel gets the id of
    an old one that comes first in the page: its script attaches to the *old*
    element (which then runs two clients) and the new one never leaves "loading".
    """
    rooms, server = chat_server
    monkeypatch.setattr(wsnb.browser, "_ids", itertools.count(1), raising=False)  # a kernel
    old_kernel = wsnb.BrowserChat(f"ws://127.0.0.1:{free_port()}", name="old")._repr_html_()
    monkeypatch.setattr(wsnb.browser, "_ids", itertools.count(1), raising=False)  # a new one
    new_kernel = wsnb.BrowserChat(server, name="new")._repr_html_()

    page = await open_html(browser, f"<div>{old_kernel}</div><div>{new_kernel}</div>")
    states_js = "() => [...document.querySelectorAll('.wsnb-chat')].map(chat => chat.dataset.state)"
    with contextlib.suppress(PlaywrightTimeoutError):
        await page.page.wait_for_function(f"({states_js})()[1] === 'open'", timeout=3000)
    states = await page.page.evaluate(states_js)
    assert states[1] == "open", f"the new chat is {states[1]!r} (the old one: {states[0]!r})"
    assert rooms.members("lobby") == ["new"]
