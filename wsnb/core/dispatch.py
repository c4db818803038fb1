"""Typed dispatch: a registry from message types to the functions that handle them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from .envelope import Envelope, ErrorCode

__all__ = ["Dispatcher"]

R = TypeVar("R")
F = TypeVar("F", bound=Callable[..., Any])


class Dispatcher(Generic[R]):
    """Map message types to handlers; unknown types become ``unknown_type`` errors.

    A handler is called as ``handler(*context, envelope)``. ``needs_room``
    makes a missing ``room`` a ``missing_field`` error before the handler runs.

    >>> commands = Dispatcher[str]()
    >>> @commands.on("greet")
    ... def greet(envelope):
    ...     return "hello " + envelope.data["name"]
    >>> commands.dispatch(Envelope("greet", data={"name": "ada"}))
    'hello ada'
    >>> commands.types
    ['greet']
    """

    def __init__(self) -> None:
        self._handlers: dict[str, tuple[Callable[..., R], bool]] = {}

    def on(self, message_type: str, *, needs_room: bool = False) -> Callable[[F], F]:
        """Register the decorated function as the handler of ``message_type``."""

        def register(handler: F) -> F:
            if message_type in self._handlers:
                raise ValueError(f"a handler for {message_type!r} is already registered")
            self._handlers[message_type] = (handler, needs_room)
            return handler

        return register

    @property
    def types(self) -> list[str]:
        """The message types with a handler, in registration order."""
        return list(self._handlers)

    def dispatch(self, envelope: Envelope, *context: Any) -> R:
        """Call the handler of ``envelope.type`` with ``*context`` and the envelope."""
        try:
            handler, needs_room = self._handlers[envelope.type]
        except KeyError:
            known = ", ".join(self._handlers)
            raise envelope.fail(
                ErrorCode.UNKNOWN_TYPE,
                f"unknown message type {envelope.type!r}; known types: {known}",
                path="type",
            ) from None
        if needs_room and envelope.room is None:
            raise envelope.fail(
                ErrorCode.MISSING_FIELD, f"'room' is required for {envelope.type!r}", path="room"
            )
        return handler(*context, envelope)
