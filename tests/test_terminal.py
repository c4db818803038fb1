"""``python -m wsnb connect`` in a terminal, as a user meets it: a pseudo-terminal per client.

Each client runs on its own pty (cli_helpers.Terminal): what is typed is
echoed by the terminal, Enter ends a line, Ctrl-D ends input, Ctrl-C is
SIGINT. The servers are real ``python -m wsnb serve`` processes. What users
rely on: plain lines chat in the current room, each reply is one short
line, history prints like live messages, a closed connection says who closed
it and why, and the exit status says whether it was the user's choice.
"""

from __future__ import annotations

import re
import signal

import pytest
from cli_helpers import serving, terminal

pytestmark = pytest.mark.timeout(90)

JSON_LINE = re.compile(r"^\s*(\{|\[\s*[\[{\"\d\]]|\")")  # not "[lobby #1] ada: ..."


def assert_no_json_on_screen(screen: str) -> None:
    """Replies are short lines, not JSON documents (nor pieces of indented ones)."""
    printed = [line for line in screen.splitlines() if JSON_LINE.match(line)]
    assert printed == [], screen


def test_two_terminals_chat_in_a_room_and_hear_the_server_go() -> None:
    with serving("rooms") as server:
        with terminal("connect", server.url, "--name", "bob", "--room", "lobby") as bob:
            bob.expect("lines go to lobby, /help for commands, /quit or Ctrl-D to quit")
            bob.expect("* joined lobby: 1 here (bob)")
            with terminal("connect", server.url) as ada:
                ada.expect("type lines to send them")
                ada.type("hello?")  # before joining: the server says what it speaks
                assert ada.expect("! bad_json: ").startswith("! bad_json: not valid JSON")
                ada.expect("this server speaks wsnb's rooms protocol: /join ROOM first")
                ada.type("/name ada")
                ada.expect("* you are ada")
                ada.type("/join lobby")
                ada.expect("* joined lobby: 2 here (bob, ada)")
                bob.expect("[lobby] ada joined (2 here)")

                ada.type("hi bob, it's ada")  # a plain line: to the current room
                bob.expect("[lobby #1] ada: hi bob, it's ada")
                ada.expect("[lobby #1] ada: hi bob, it's ada")
                bob.type("hello ada")
                ada.expect("[lobby #2] bob: hello ada")

                ada.type("/help")
                assert "/quit" in ada.expect("/quit ") and "Ctrl-D" in ada.expect("/quit ")
                ada.type("/members lobby")
                ada.expect("* lobby: 2 here (bob, ada)")
                ada.type("/quit")
                assert ada.wait() == 0
                assert "closed the connection" not in ada.screen()
                assert_no_json_on_screen(ada.screen())
            bob.expect("[lobby] ada left (1 here)")

            # A newcomer's history prints like live messages, right after the join line.
            with terminal("connect", server.url, "--room", "lobby") as cy:
                cy.expect("[lobby #2] bob: hello ada")
                lines = cy.lines()
                joined = next(i for i, line in enumerate(lines) if line.startswith("* joined"))
                assert lines[joined + 1 : joined + 3] == [
                    "[lobby #1] ada: hi bob, it's ada",
                    "[lobby #2] bob: hello ada",
                ], lines
                cy.press(b"\x04")  # Ctrl-D: the user's choice
                assert cy.wait() == 0

            server.stop(signal.SIGINT)
            line = bob.expect("wsnb: the server closed the connection")
            assert line == (
                "wsnb: the server closed the connection: 1001 (going away: the server stopped)"
            )
            assert bob.wait() == 1  # not the user's choice
            assert "Traceback" not in bob.screen()
            assert_no_json_on_screen(bob.screen())


def test_a_server_killed_mid_session_is_a_lost_connection_1006_and_status_1() -> None:
    with serving("rooms") as server:
        with terminal("connect", server.url, "--room", "lobby") as client:
            client.expect("* joined lobby")
            server.process.kill()  # no close frame: the process is gone
            line = client.expect("wsnb: the connection was lost")
            assert line == (
                "wsnb: the connection was lost: 1006 (no close frame: the server's process "
                "ended or the network dropped)"
            )
            assert client.wait() == 1


def test_ctrl_c_in_a_terminal_exits_130_without_a_traceback() -> None:
    with serving("echo") as server:
        with terminal("connect", server.url) as client:
            client.expect("wsnb: connected to")
            client.type("hello")
            client.expect("< hello")  # an echo server: lines are sent as typed
            client.press(b"\x03")
            assert client.wait() == 130
            assert "Traceback" not in client.screen()
        server.stop()


def test_join_room_errors_are_one_line_and_the_session_goes_on() -> None:
    with serving("rooms") as server:
        with terminal("connect", server.url) as client:
            client.type("/name ada")
            client.expect("* you are ada")
            client.type("no room yet")
            client.expect("wsnb: join a room first (/join lobby); then lines go to it")
            client.type("/say nowhere hi")
            client.expect("! unknown_room: there is no room 'nowhere' (at room)")
            client.type("/join lobby")
            client.expect("* joined lobby: 1 here (ada)")
            client.type("/bogus")
            client.expect("wsnb: unknown command '/bogus' (/help lists them)")
            client.type("still here")
            client.expect("[lobby #1] ada: still here")
            client.type("/leave lobby")
            client.expect("* left lobby")
            client.press(b"\x04")
            assert client.wait() == 0
            assert_no_json_on_screen(client.screen())


def test_connect_name_against_a_hub_is_harmless_and_lines_go_as_typed() -> None:
    """BUG: ``connect URL --name ada`` against ``serve hub`` switched to the rooms protocol:
    every plain line was refused ("join a room first"). The server's answer decides the mode."""
    with serving("hub") as server:
        with terminal("connect", server.url) as bob:
            bob.expect("type lines to send them")
            with terminal("connect", server.url, "--name", "ada") as ada:
                ada.expect("wsnb: connected to")
                ada.type("typed at once")  # while connect waits for an answer to hello
                line = ada.expect("wsnb: not a rooms server")
                assert line == (
                    "wsnb: not a rooms server (no answer to hello in 2 s): names and rooms are "
                    "for rooms servers; lines go as typed"
                )
                assert bob.expect("< typed at once") == "< typed at once"
                ada.type("hi bob, it's ada")
                assert bob.expect("< hi bob") == "< hi bob, it's ada"  # as typed, not JSON
                bob.type("hello ada")
                assert ada.expect("< hello ada") == "< hello ada"
                ada.type("/quit")
                assert ada.wait() == 0
                screen = ada.screen()
                assert "join a room first" not in screen and "Traceback" not in screen, screen
            bob.press(b"\x04")
            assert bob.wait() == 0


def test_connect_name_follows_what_the_server_is_echo_or_rooms() -> None:
    with serving("echo") as server:
        with terminal("connect", server.url, "--name", "ada") as client:
            client.expect("wsnb: not a rooms server (it sent the hello back)")
            client.type("hello")
            assert client.expect("< hello") == "< hello"
            client.press(b"\x04")
            assert client.wait() == 0
    with serving("rooms") as server:
        with terminal("connect", server.url, "--name", "ada") as client:
            client.expect("* you are ada")  # a rooms server answered: rooms mode
            client.type("no room yet")
            client.expect("wsnb: join a room first (/join lobby); then lines go to it")
            client.type("/join lobby")
            client.expect("* joined lobby: 1 here (ada)")
            client.type("hi")
            client.expect("[lobby #1] ada: hi")
            client.press(b"\x04")
            assert client.wait() == 0
            assert "not a rooms server" not in client.screen()
            assert_no_json_on_screen(client.screen())
