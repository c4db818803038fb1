"""The close codes wsnb sends, in one place (docs/protocol.md lists them too).

Application codes follow the graphql-ws convention of 44xx mirroring HTTP
statuses, so they read at a glance: 4401 unauthorized, 4408 timeout, 4429 too
many requests.

>>> UNAUTHORIZED, RATE_LIMITED
(4401, 4429)
"""

from __future__ import annotations

from websockets.frames import CloseCode

__all__ = [
    "GOING_AWAY",
    "SLOW_CLIENT",
    "MESSAGE_TOO_BIG",
    "INVALID_DATA",
    "UNAUTHORIZED",
    "AUTH_TIMEOUT",
    "RATE_LIMITED",
]

GOING_AWAY = CloseCode.GOING_AWAY
"""1001: the server is stopping (``server.stop()``, ``wsnb.stop_all()``)."""

INVALID_DATA = CloseCode.INVALID_DATA
"""1007: a text frame that is not valid UTF-8 (sent by websockets itself)."""

SLOW_CLIENT = CloseCode.POLICY_VIOLATION
"""1008: the client read too slowly; its unsent bytes passed the hub's bound."""

MESSAGE_TOO_BIG = CloseCode.MESSAGE_TOO_BIG
"""1009: a message over ``max_size`` (sent by websockets itself)."""

UNAUTHORIZED = 4401
"""4401: the authentication message was missing, malformed or wrong."""

AUTH_TIMEOUT = 4408
"""4408: no authentication message arrived in time."""

RATE_LIMITED = 4429
"""4429: the client sent messages faster than the rate limit allows."""
