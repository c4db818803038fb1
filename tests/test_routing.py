"""wsnb.routing: the Router, by path."""

from __future__ import annotations

import asyncio
import json

import pytest
from helpers import WAIT, close_code_of, shout
from websockets.exceptions import InvalidStatus

import wsnb
import wsnb.auth

# -- f. Router ----------------------------------------------------------------------------------


async def inspect_request(ws):
    await ws.send(
        json.dumps(
            {
                "path": ws.request.path,
                "probe": ws.request.headers.get("X-Probe"),
                "remote": list(ws.remote_address[:2]),
            }
        )
    )


@pytest.fixture
async def routed_server():
    router = wsnb.Router({"/echo": wsnb.echo, "/shout": shout, "/inspect": inspect_request})
    return await wsnb.serve(router, process_request=router.process_request)


async def test_router_dispatches_by_path(routed_server):
    assert await wsnb.exchange(routed_server.url + "/echo", ["hi"]) == ["hi"]
    assert await wsnb.exchange(routed_server.url + "/shout", ["hi"]) == ["HI"]


async def test_router_ignores_the_query_string(routed_server):
    assert await wsnb.exchange(routed_server.url + "/shout?room=a&x=1", ["hi"]) == ["HI"]


@pytest.mark.parametrize("path", ["/", "/nope", "/echo/", "/ECHO", "/shoutx?echo"])
async def test_router_unknown_path_is_404_listing_known_paths(routed_server, path):
    with pytest.raises(InvalidStatus) as info:
        async with wsnb.connect(routed_server.url + path):
            pass
    response = info.value.response
    assert response.status_code == 404
    body = response.body.decode()
    for known in ("/echo", "/shout", "/inspect"):
        assert known in body
    assert not routed_server.connections


async def test_router_handler_reads_request_path_headers_and_remote_address(routed_server):
    async with wsnb.connect(
        routed_server.url + "/inspect?room=lobby", additional_headers={"X-Probe": "42"}
    ) as ws:
        async with asyncio.timeout(WAIT):
            seen = json.loads(await ws.recv())
        assert seen == {
            "path": "/inspect?room=lobby",
            "probe": "42",
            "remote": ["127.0.0.1", ws.local_address[1]],
        }


async def test_router_without_process_request_closes_unknown_paths_with_1008():
    router = wsnb.Router({"/echo": wsnb.echo})
    server = await wsnb.serve(router)
    async with wsnb.connect(server.url + "/nope") as ws:
        assert await close_code_of(ws) == ("close", 1008)
    assert await wsnb.exchange(server.url + "/echo", ["ok"]) == ["ok"]
