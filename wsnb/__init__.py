"""wsnb: learn, prototype and test WebSockets from Jupyter.

Servers start in the background of the notebook's running event loop and keep
serving while other cells run; re-running a cell replaces the server it
started; the same code runs in a script under ``asyncio.run``.

Example::

    import wsnb

    server = await wsnb.serve(wsnb.echo)          # returns once listening
    await wsnb.exchange(server, ["hi", b"\\x01"])  # ['hi', b'\\x01']
    await wsnb.stop_all()
"""

from . import close_codes, faults
from .auth import basic_auth, bearer_auth, first_message_auth, token_checker
from .backoff import notebook_backoff
from .blocking import run
from .browser import BrowserChat
from .chatroom import ChatRoom
from .client import ExchangeTimeout, connect, connect_sync, exchange, exchange_sync, is_loopback
from .core.rooms import RoomLimits
from .echo import echo, echo_with_prefix
from .errors import NotJSONError, PortInUseError, SameLoopError, WsnbError
from .handshake import chain, require_subprotocol
from .hub import Hub, HubClient
from .json_messages import decode_json, encode_json, recv_json, send_json
from .json_protocol import JsonProtocol
from .limits import max_connections, rate_limited
from .redis_backend import RedisBackend
from .redis_server import RedisServer, redis_server
from .registry import running_servers, stop_all
from .rooms import Rooms, RoomView
from .rooms_client import RequestError, RoomsClient
from .routing import Router
from .server import Server, ends_quietly, serve
from .stream_client import Stream, stream
from .subscriber import OfflineBufferFull, Subscriber, SubscriberStats, subscribe
from .threaded import ThreadedServer, serve_in_thread
from .tls import LocalTLS, localhost_tls
from .trace import Trace
from .typing import Handler

__version__ = "0.1.0"

__all__ = [
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
]
