"""Forgetting ``await`` on ``wsnb.serve``: the error says "add await", nothing else changes.

The learner's first slip (``server = wsnb.serve(wsnb.echo)``) used to give
Python's bare "'coroutine' object has no attribute 'url'". What serve
returns is still a coroutine for everything asyncio does with one.
"""

from __future__ import annotations

import asyncio
import gc
import warnings

import pytest

import wsnb


async def test_using_it_without_await_says_add_await() -> None:
    started = wsnb.serve(wsnb.echo, name="forgotten")
    try:
        with pytest.raises(AttributeError, match=r"not awaited.*'url'.*add await"):
            _ = started.url  # type: ignore[attr-defined]
        with pytest.raises(AttributeError, match="add await"):
            wsnb.connect(started)  # type: ignore[arg-type]
        assert "add await" in repr(started)
        assert all(s.name != "forgotten" for s in wsnb.running_servers())  # nothing started
    finally:
        started.close()  # type: ignore[attr-defined]


async def test_a_call_never_awaited_still_warns_with_the_name_serve() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        wsnb.serve(wsnb.echo, name="never")
        gc.collect()
    assert any("coroutine 'serve' was never awaited" in str(w.message) for w in caught)


async def test_awaited_create_task_and_wait_for_give_the_server() -> None:
    server = await wsnb.serve(wsnb.echo, name="awaited")
    task = await asyncio.create_task(wsnb.serve(wsnb.echo, name="as a task"))
    timed = await asyncio.wait_for(wsnb.serve(wsnb.echo, name="wait_for"), 5)
    try:
        for each in (server, task, timed):
            assert isinstance(each, wsnb.Server) and each.state == "serving"
        assert await wsnb.exchange(task, ["hi"]) == ["hi"]
    finally:
        await wsnb.stop_all()


def test_asyncio_run_takes_it_in_a_script() -> None:
    async def main() -> str:
        server = await wsnb.serve(wsnb.echo)
        try:
            return server.url
        finally:
            await server.stop()

    assert asyncio.run(main()).startswith("ws://127.0.0.1:")

    async def serve_and_stop(coroutine: object) -> str:
        server = await coroutine  # type: ignore[misc]
        await server.stop()
        return str(server.state)

    assert asyncio.run(serve_and_stop(wsnb.serve(wsnb.echo))) == "stopped"
