"""A client of wsnb's rooms protocol: requests that await their reply, events that flow.

One reader task owns the connection's incoming side. A reply (or error) that
carries the id of a pending request resolves that request; everything else
(room messages, presence) goes to the events queue, so awaiting a reply never
swallows room traffic and room traffic never blocks a reply.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from typing import Any, Literal, overload

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from .client import connect
from .core.envelope import request_envelope
from .errors import NotJSONError, WsnbError
from .json_messages import decode_json, encode_json
from .typing import Target

__all__ = ["RoomsClient", "RequestError"]


class RequestError(WsnbError):
    """The server answered a request with an ``error`` message (docs/protocol.md).

    ``code`` is the stable error code, ``path`` the field at fault (if any),
    ``reply`` the whole error message.

    Example::

        try:
            await client.publish("nowhere", "hi")
        except wsnb.RequestError as exc:
            print(exc.code)   # 'unknown_room'
    """

    def __init__(self, reply: dict[str, Any]) -> None:
        self.reply = reply
        self.code: str = reply.get("code", "")
        self.path: str | None = reply.get("path")
        where = f" (at {self.path})" if self.path else ""
        super().__init__(f"{self.code}: {reply.get('message', '')}{where}")


class RoomsClient:
    """Talk to a :class:`wsnb.Rooms` server: request/response plus a stream of events.

    Example::

        async with wsnb.RoomsClient.connect(server, name="ada") as ada:
            await ada.join("lobby")
            await ada.publish("lobby", "hello")
            event = await ada.next_event(timeout=1)   # the room's 'message'
    """

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._events: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._reader = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def connect(cls, target: Target, name: str | None = None, **options: Any) -> RoomsClient:
        """Connect (``proxy=None`` on loopback) and, if ``name`` is given, say hello."""
        client = cls(await connect(target, **options))
        if name is not None:
            await client.request("hello", name=name)
        return client

    async def _read(self) -> None:
        try:
            async for raw in self.connection:
                self._route(raw)
        except ConnectionClosed:
            pass
        finally:
            for waiter in self._pending.values():
                if not waiter.done():
                    waiter.set_exception(WsnbError("the connection closed before the reply"))
            self._pending.clear()
            self._events.put_nowait(None)

    def _route(self, raw: str | bytes) -> None:
        """Hand a reply to the request waiting for it; queue anything else as an event."""
        try:
            message = decode_json(raw)
        except NotJSONError:
            return  # not the protocol: ignore rather than crash the reader
        if not isinstance(message, dict):
            return
        request_id = message.get("id")
        waiter = None
        if message.get("type") in ("reply", "error") and isinstance(request_id, int):
            waiter = self._pending.pop(request_id, None)
        if waiter is None:
            self._events.put_nowait(message)
        elif not waiter.done():
            if message["type"] == "error":
                waiter.set_exception(RequestError(message))
            else:
                waiter.set_result(message.get("data", {}))

    async def request(
        self, message_type: str, /, room: str | None = None, *, timeout: float = 5.0, **data: Any
    ) -> dict[str, Any]:
        """Send a request with a fresh id and return the ``data`` of its reply.

        Raises :class:`RequestError` for an error reply and ``TimeoutError``
        if no reply comes within ``timeout`` seconds.

        Example::

            reply = await client.request("history", room="lobby", since=10)
        """
        request_id = next(self._ids)
        envelope = request_envelope(message_type, request_id, room, data)
        waiter = asyncio.get_running_loop().create_future()
        self._pending[request_id] = waiter
        try:
            await self.connection.send(encode_json(envelope))
            async with asyncio.timeout(timeout):
                reply: dict[str, Any] = await waiter
                return reply
        finally:
            self._pending.pop(request_id, None)
            if not waiter.done():
                waiter.cancel()
            elif not waiter.cancelled():
                waiter.exception()  # retrieved: no "never retrieved" warning if we left early

    async def join(self, room: str, **data: Any) -> dict[str, Any]:
        """Join ``room``; the reply has its epoch, seq, member count, the first page of
        members (``{"id", "name"}``), your member id (``you``) and recent history."""
        return await self.request("join", room, **data)

    async def leave(self, room: str) -> dict[str, Any]:
        """Leave ``room``; the others see it in the room's next ``presence`` event.

        Raises :class:`RequestError` with code ``not_a_member`` if this
        client is not in ``room`` (docs/protocol.md).
        """
        return await self.request("leave", room)

    @overload
    async def publish(
        self,
        room: str,
        body: Any,
        *,
        reply: Literal[True] = True,
        idempotency_key: str | None = None,
    ) -> int: ...
    @overload
    async def publish(
        self, room: str, body: Any, *, reply: Literal[False], idempotency_key: str | None = None
    ) -> None: ...
    async def publish(
        self, room: str, body: Any, *, reply: bool = True, idempotency_key: str | None = None
    ) -> int | None:
        """Publish ``body`` (any JSON value) in ``room``; return its sequence number.

        With ``reply=False`` the server sends no reply (one frame less each):
        nothing is returned, and a refusal arrives as an ``error`` event.
        With an ``idempotency_key`` (any string of up to 64 characters, unique
        to this message), sending it again (after a drop, say) does not
        publish it twice: the server answers with the first one's seq.

        Example::

            seq = await client.publish("lobby", "hello")
            await client.publish("lobby", {"x": 1}, reply=False)   # fire and forget
            seq = await client.publish("lobby", "once", idempotency_key="ada-1")
        """
        data: dict[str, Any] = {"body": body}
        if idempotency_key is not None:
            data["idempotency_key"] = idempotency_key
        if not reply:
            data["reply"] = False
            envelope = request_envelope("publish", None, room, data)
            await self.connection.send(encode_json(envelope))
            return None
        answer = await self.request("publish", room, **data)
        return int(answer["seq"])

    async def history(self, room: str, since: int = 0) -> list[dict[str, Any]]:
        """The messages of ``room`` after sequence number ``since`` (every page of them)."""
        messages: list[dict[str, Any]] = []
        while True:
            reply = await self.request("history", room, since=since, limit=1000)
            messages += reply["messages"]
            if not reply.get("more") or not reply["messages"]:
                return messages
            since = reply["messages"][-1]["seq"]

    async def members(self, room: str) -> list[str]:
        """The names of the members of ``room``, in join order (every page of them)."""
        return [member["name"] for member in await self.member_list(room)]

    async def member_list(self, room: str) -> list[dict[str, Any]]:
        """The members of ``room`` as ``{"id", "name"}``, in join order (every page)."""
        members: list[dict[str, Any]] = []
        after: int | None = 0
        while after is not None:
            reply = await self.request("members", room, after=after, limit=1000)
            members += reply["members"]
            after = reply["next"]
        return members

    async def rooms(self) -> list[dict[str, Any]]:
        """Every room with its member ``count`` and latest sequence number (every page)."""
        rooms: list[dict[str, Any]] = []
        after: int | None = 0
        while after is not None:
            reply = await self.request("rooms", after=after, limit=1000)
            rooms += reply["rooms"]
            after = reply["next"]
        return rooms

    async def next_event(self, timeout: float | None = None) -> dict[str, Any]:
        """The next message that is not a reply: a room ``message``, ``presence``...

        Raises ``TimeoutError`` after ``timeout`` seconds, and
        :class:`WsnbError` once the connection has closed and every event was
        read.
        """
        async with asyncio.timeout(timeout):
            event = await self._events.get()
        if event is None:
            self._events.put_nowait(None)  # stay closed for the next caller
            raise WsnbError("the connection is closed")
        return event

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        """Iterate over events until the connection closes.

        Example::

            async for event in client.events():
                print(event["type"], event.get("data"))
        """
        while True:
            event = await self._events.get()
            if event is None:
                self._events.put_nowait(None)
                return
            yield event

    @property
    def pending_events(self) -> int:
        """Events received and not consumed yet."""
        return self._events.qsize()

    async def close(self) -> None:
        """Close the connection and wait for the reader to finish."""
        await self.connection.close()
        await self._reader

    async def __aenter__(self) -> RoomsClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
