"""redis-py as wsnb's Redis backend uses it: imported when asked, clients, replies.

redis-py (``pip install 'wsnb[redis]'``; hiredis parses replies when
installed) is imported when a :class:`~wsnb.RedisBackend` is made, never by
``import wsnb``: this module imports it only in :func:`_import_redis`. The
rest is what every part of the backend shares: the client made from a URL
(retries with backoff), the feed's pub/sub connection (written to raw), a URL
without its password for messages, a reply as text, and which errors mean
that Redis is away (not a bug).

Example::

    redis = _import_redis()
    client = _client_from_url(redis, "redis://127.0.0.1:6379/0", connect_timeout=5.0)
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

__all__ = ["BACKOFF_CAP", "BACKOFF_FIRST"]

#: Feed reconnection backoff, in seconds: the first wait, doubled up to the cap.
BACKOFF_FIRST = 0.05
BACKOFF_CAP = 1.0


def _import_redis() -> Any:
    try:
        import redis.asyncio
        import redis.asyncio.retry
        import redis.backoff
        import redis.exceptions
    except ImportError as error:
        raise ImportError("wsnb.RedisBackend needs redis-py: pip install 'wsnb[redis]'") from error
    return redis


def _client_from_url(redis: Any, url: str, *, connect_timeout: float) -> Any:
    """A ``redis.asyncio.Redis`` for ``url`` that decodes replies and retries 3 times."""
    return redis.asyncio.Redis.from_url(
        url,
        decode_responses=True,
        socket_connect_timeout=connect_timeout,
        socket_timeout=max(10.0, connect_timeout),
        retry=redis.asyncio.retry.Retry(
            redis.backoff.ExponentialBackoff(cap=BACKOFF_CAP, base=BACKOFF_FIRST), 3
        ),
    )


def _feed_connection(redis: Any, client: Any, node: str) -> Any:
    """A connection with ``client``'s options for the feed: it waits for messages as long
    as it takes, and never reconnects by itself (the feed loop does)."""
    pool = client.connection_pool
    options = dict(pool.connection_kwargs)
    options.update(
        socket_timeout=None,  # it waits for messages as long as it takes
        health_check_interval=0,  # no PING sent behind the reader's back
        retry=redis.asyncio.retry.Retry(redis.backoff.NoBackoff(), 0),
        protocol=2,
        client_name=f"wsnb-feed-{node}",
    )
    return pool.connection_class(**options)


def _write(conn: Any, *args: Any) -> bool:
    """Write a command on the feed connection now, without waiting (so that the replies
    expected stay in the order of the commands); ``False`` if it is not connected.

    Not redis-py's ``send_command``: it would reconnect a dropped connection behind the
    feed loop's back, and it may wait before writing.
    """
    writer = getattr(conn, "_writer", None) if conn is not None else None
    if writer is None or writer.is_closing() or not conn.is_connected:
        return False
    writer.writelines(conn.pack_command(*args))
    return True


def _break(conn: Any) -> None:
    """Close ``conn``'s transport: a reader waiting on it gets an error at once."""
    writer = getattr(conn, "_writer", None)
    if writer is not None:
        writer.close()


def _away(redis: Any) -> tuple[type[BaseException], ...]:
    """What a command raises when Redis is away: the next try may work."""
    return (
        OSError,
        TimeoutError,
        redis.exceptions.ConnectionError,
        redis.exceptions.TimeoutError,
    )


def _text(value: Any) -> str:
    """A reply's string, whether the client decodes replies or not."""
    return value.decode() if isinstance(value, bytes) else str(value)


def _safe_url(url: str) -> str:
    """``url`` without its password, for error messages.

    >>> _safe_url("redis://:secret@db:6379/0")
    'redis://***@db:6379/0'
    >>> _safe_url("redis://127.0.0.1:6379/0")
    'redis://127.0.0.1:6379/0'
    """
    parts = urlsplit(url)
    if parts.password is None and parts.username is None:
        return url
    netloc = "***@" + parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=netloc))
