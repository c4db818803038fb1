"""Authentication: a token in the first message (browsers), or an HTTP header (programs).

Browsers cannot set headers on a WebSocket handshake, so the pattern that
works for them is a token in the **first message**, with a deadline:
:func:`first_message_auth`. Programs can send ``Authorization`` in the
handshake, checked before any WebSocket is opened: :func:`bearer_auth` here,
and websockets' own :func:`~websockets.asyncio.server.basic_auth`. Tokens are
compared in constant time.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
from collections.abc import Callable, Collection, Mapping

from websockets.asyncio.server import ServerConnection, basic_auth
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from .close_codes import AUTH_TIMEOUT, UNAUTHORIZED
from .core.envelope import ProtocolError, parse_envelope
from .json_messages import encode_json
from .typing import Handler

__all__ = ["first_message_auth", "bearer_auth", "basic_auth", "token_checker", "TokenCheck"]

TokenCheck = Callable[[str], "str | None"]
"""Given a token, the user it belongs to, or None if it is not valid."""


def token_checker(tokens: Mapping[str, str] | Collection[str]) -> TokenCheck:
    """Make a :data:`TokenCheck` from known tokens, comparing in constant time.

    ``tokens`` maps token -> user name, or is a collection of tokens (the
    user is then ``"user"``). Every known token is compared, match or not,
    so the time taken says nothing about which one nearly matched.

    >>> check = token_checker({"s3cret": "ada"})
    >>> check("s3cret"), check("guess")
    ('ada', None)
    """
    users = dict(tokens) if isinstance(tokens, Mapping) else dict.fromkeys(tokens, "user")
    # surrogatepass: a token decoded from JSON may hold a lone surrogate; it
    # then matches nothing instead of raising.
    known = [(token.encode("utf-8", "surrogatepass"), user) for token, user in users.items()]

    def check(token: str) -> str | None:
        candidate = token.encode("utf-8", "surrogatepass")
        found = None
        for secret, user in known:
            if hmac.compare_digest(candidate, secret):
                found = user
        return found

    return check


def _as_check(tokens: Mapping[str, str] | Collection[str] | TokenCheck) -> TokenCheck:
    return tokens if callable(tokens) else token_checker(tokens)


def first_message_auth(
    handler: Handler,
    tokens: Mapping[str, str] | Collection[str] | TokenCheck,
    *,
    timeout: float = 5.0,
) -> Handler:
    """Require ``{"type": "auth", "data": {"token": "..."}}`` as the first message.

    Within ``timeout`` seconds of connecting, the client sends that message.
    A valid token gets the reply ``{"type": "reply", "re": "auth", "data":
    {"user": ...}}``, ``ws.username`` is set, and ``handler`` takes over the
    connection. A missing, malformed or wrong token closes the connection
    with 4401 (unauthorized); no message in time closes it with 4408.

    Example::

        server = await wsnb.serve(wsnb.first_message_auth(wsnb.echo, {"s3cret": "ada"}))
        # client: await ws.send('{"type": "auth", "data": {"token": "s3cret"}}')
    """
    check = _as_check(tokens)

    @functools.wraps(handler)
    async def authenticated(ws: ServerConnection) -> None:
        try:
            async with asyncio.timeout(timeout):
                first = await ws.recv()
        except TimeoutError:
            await ws.close(AUTH_TIMEOUT, f"no authentication message within {timeout} s")
            return
        except ConnectionClosed:
            return
        token = _token_of(first)
        user = None if token is None else check(token)
        if user is None:
            reason = "missing or malformed auth message" if token is None else "invalid token"
            await ws.close(UNAUTHORIZED, reason)
            return
        ws.username = user
        await ws.send(encode_json({"type": "reply", "re": "auth", "data": {"user": user}}))
        await handler(ws)

    return authenticated


def _token_of(message: str | bytes) -> str | None:
    """The token of a protocol ``auth`` message, or None for anything else."""
    try:
        envelope = parse_envelope(message)  # the protocol's own hardened parser
    except ProtocolError:
        return None
    token = envelope.data.get("token") if envelope.type == "auth" else None
    return token if isinstance(token, str) else None


def bearer_auth(
    tokens: Mapping[str, str] | Collection[str] | TokenCheck,
) -> Callable[[ServerConnection, Request], Response | None]:
    """A ``process_request`` that requires ``Authorization: Bearer <token>``.

    A missing or wrong token gets HTTP 401 with ``WWW-Authenticate: Bearer``
    before any WebSocket opens; a valid one sets ``ws.username``. For
    programs (browsers cannot send this header: see
    :func:`first_message_auth`).

    Example::

        server = await wsnb.serve(wsnb.echo, process_request=wsnb.bearer_auth({"s3cret": "ci"}))
        await wsnb.exchange(server, ["hi"],
                            additional_headers={"Authorization": "Bearer s3cret"})
    """
    check = _as_check(tokens)

    def process_request(connection: ServerConnection, request: Request) -> Response | None:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        user = check(token.strip()) if scheme.lower() == "bearer" else None
        if user is None:
            response = connection.respond(401, "Missing or invalid bearer token.\n")
            response.headers["WWW-Authenticate"] = 'Bearer realm="wsnb"'
            return response
        connection.username = user
        return None

    return process_request


# Re-exported so that all authentication helpers live in one place.
basic_auth = basic_auth
