"""Talking to a local Redis server over a raw socket, without redis-py.

:func:`wsnb.redis_server` must work where redis-py is not installed (it is an
optional extra), so what it asks of its server goes as inline commands on a
plain socket: ``PING`` and ``INFO server`` (is it ready, and is it ours?),
``SHUTDOWN`` (stop at once) and ``CLIENT LIST`` (who is connected). Only the
standard library.

Example::

    port = _free_port()
    _ask(port, [b"PING"], timeout=1.0)   # [b'+PONG'] once a server listens there
"""

from __future__ import annotations

import socket
from typing import BinaryIO, NamedTuple

__all__ = ["HOST", "RedisConnection"]

#: The only interface the server listens on.
HOST = "127.0.0.1"


class RedisConnection(NamedTuple):
    """A client connected to a :class:`RedisServer`, as Redis's ``CLIENT LIST`` tells.

    Example::

        for connection in server.connections:
            print(connection.remote_address, connection.name)
    """

    remote_address: tuple[str, int]
    name: str


def _free_port() -> int:
    """A port nothing listened on a moment ago (Redis's ``--port 0`` would mean no TCP)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _ask(port: int, commands: list[bytes], timeout: float) -> list[bytes]:
    """Send inline commands on one connection; each reply's line, or a bulk reply's body."""
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        sock.sendall(b"".join(command + b"\r\n" for command in commands))
        with sock.makefile("rb") as stream:
            return [_read_reply(stream) for _ in commands]


def _read_reply(stream: BinaryIO) -> bytes:
    line = stream.readline()
    if not line.endswith(b"\r\n"):
        raise ValueError(f"not a Redis reply: {line!r}")
    if not line.startswith(b"$"):
        return line[:-2]
    size = int(line[1:-2])
    body = stream.read(size + 2)
    if size < 0 or len(body) != size + 2:
        raise ValueError("a Redis bulk reply ended early")
    return body[:-2]


def _info_field(info: bytes, field: str) -> str | None:
    for line in info.decode("utf-8", "replace").splitlines():
        key, _, value = line.partition(":")
        if key == field:
            return value.strip()
    return None


def _shut_down(port: int) -> bool:
    """Ask for SHUTDOWN: done at once (SIGTERM waits for the next 100 ms tick of Redis's cron).

    Redis fsyncs the append-only file, closes the connection and exits; an
    error reply instead (or no answer) returns ``False``.
    """
    try:
        with socket.create_connection((HOST, port), timeout=1.0) as sock:
            sock.sendall(b"SHUTDOWN\r\n")
            return sock.recv(1) == b""
    except OSError:
        return False


def _client_list(port: int) -> list[RedisConnection]:
    with socket.create_connection((HOST, port), timeout=1.0) as sock:
        me = sock.getsockname()
        sock.sendall(b"CLIENT LIST\r\n")
        with sock.makefile("rb") as stream:
            reply = _read_reply(stream)
    connections = []
    for line in reply.decode("utf-8", "replace").splitlines():
        fields = dict(part.partition("=")[::2] for part in line.split(" "))
        host, _, client_port = fields.get("addr", "").rpartition(":")
        if host and client_port.isdigit() and (host, int(client_port)) != me:
            connections.append(RedisConnection((host, int(client_port)), fields.get("name", "")))
    return connections
