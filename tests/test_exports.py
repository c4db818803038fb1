"""The public API is exactly this list: adding or removing a name is a decision, made here."""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import warnings

import pytest

import wsnb
import wsnb.core

PUBLIC = {
    "BrowserChat",
    "ChatRoom",
    "ExchangeTimeout",
    "Handler",
    "Hub",
    "HubClient",
    "JsonProtocol",
    "LocalTLS",
    "NotJSONError",
    "OfflineBufferFull",
    "PortInUseError",
    "RedisBackend",
    "RedisServer",
    "RequestError",
    "RoomLimits",
    "RoomView",
    "Rooms",
    "RoomsClient",
    "Router",
    "SameLoopError",
    "Server",
    "Stream",
    "Subscriber",
    "SubscriberStats",
    "ThreadedServer",
    "Trace",
    "WsnbError",
    "basic_auth",
    "bearer_auth",
    "chain",
    "close_codes",
    "connect",
    "connect_sync",
    "decode_json",
    "echo",
    "echo_with_prefix",
    "encode_json",
    "ends_quietly",
    "exchange",
    "exchange_sync",
    "faults",
    "first_message_auth",
    "is_loopback",
    "localhost_tls",
    "max_connections",
    "notebook_backoff",
    "rate_limited",
    "recv_json",
    "redis_server",
    "require_subprotocol",
    "run",
    "running_servers",
    "send_json",
    "serve",
    "serve_in_thread",
    "stop_all",
    "stream",
    "subscribe",
    "token_checker",
}

CORE = {
    "Dispatcher",
    "Envelope",
    "ErrorCode",
    "History",
    "Outgoing",
    "ProtocolError",
    "Replay",
    "Room",
    "RoomLimits",
    "RoomsCore",
    "parse_envelope",
    "request_envelope",
}


def test_wsnb_exports_exactly_the_public_names() -> None:
    assert set(wsnb.__all__) == PUBLIC
    assert len(wsnb.__all__) == len(PUBLIC), "a name is listed twice"


def test_wsnb_core_exports_exactly_its_names() -> None:
    assert set(wsnb.core.__all__) == CORE


@pytest.mark.parametrize("module", [wsnb, wsnb.core], ids=["wsnb", "wsnb.core"])
def test_every_exported_name_exists_and_says_what_it_is(module: object) -> None:
    for name in module.__all__:  # type: ignore[attr-defined]
        value = getattr(module, name)
        if inspect.isclass(value) or inspect.isroutine(value) or inspect.ismodule(value):
            assert (getattr(value, "__doc__", None) or "").strip(), f"{name} has no docstring"


def test_the_version_is_written_once() -> None:
    """pyproject.toml reads it from wsnb/__init__.py, so the two cannot disagree."""
    assert importlib.metadata.version("wsnb") == wsnb.__version__


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("wsnb.core.Limits", "RoomLimits"),
        ("wsnb.core.rooms.Limits", "RoomLimits"),
        ("wsnb.core.resume.Step", "CursorStep"),
        ("wsnb.hub.SLOW_CLIENT_CLOSE_CODE", "SLOW_CLIENT"),
    ],
)
def test_renamed_names_still_work_for_one_release_and_say_so(old: str, new: str) -> None:
    module_name, _, name = old.rpartition(".")
    module = importlib.import_module(module_name)
    with pytest.warns(DeprecationWarning, match=new):
        value = getattr(module, name)
    assert value is not None


def test_a_missing_name_is_still_an_attribute_error() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(AttributeError):
            wsnb.core.NoSuchName  # noqa: B018
