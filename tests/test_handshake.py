"""wsnb.handshake: require_subprotocol and chain."""

from __future__ import annotations

import pytest
from helpers import assert_echoes, handshake_status
from websockets.exceptions import InvalidStatus

import wsnb
import wsnb.auth

# -- d. require_subprotocol -------------------------------------------------------------------


@pytest.fixture
async def v1_server():
    return await wsnb.serve(
        wsnb.echo,
        subprotocols=["wsnb.v1"],
        process_request=wsnb.require_subprotocol("wsnb.v1"),
    )


async def test_require_subprotocol_refuses_a_client_offering_none(v1_server):
    with pytest.raises(InvalidStatus) as info:
        async with wsnb.connect(v1_server):
            pass
    response = info.value.response
    assert response.status_code == 400
    body = response.body.decode()
    assert "'wsnb.v1'" in body
    assert "offered no subprotocol" in body
    assert "subprotocols=['wsnb.v1']" in body  # how to connect


async def test_require_subprotocol_refuses_a_client_offering_another(v1_server):
    with pytest.raises(InvalidStatus) as info:
        async with wsnb.connect(v1_server, subprotocols=["other.v2"]):
            pass
    response = info.value.response
    assert response.status_code == 400
    body = response.body.decode()
    assert "'wsnb.v1'" in body and "other.v2" in body
    assert "subprotocols=['wsnb.v1']" in body


@pytest.mark.parametrize("offer", [["wsnb.v1"], ["other.v2", "wsnb.v1"]], ids=["only", "among"])
async def test_require_subprotocol_accepts_a_client_offering_it(v1_server, offer):
    async with wsnb.connect(v1_server, subprotocols=offer) as ws:
        assert ws.subprotocol == "wsnb.v1"
        await assert_echoes(ws, "v1")


# -- e. chain -----------------------------------------------------------------------------------


def recording_checks(calls: list[str]):
    def sync_ok(connection, request):
        calls.append("sync_ok")

    async def async_ok(connection, request):
        calls.append("async_ok")

    def sync_refuse(connection, request):
        calls.append("sync_refuse")
        return connection.respond(401, "sync says no\n")

    async def async_refuse(connection, request):
        calls.append("async_refuse")
        return connection.respond(403, "async says no\n")

    return sync_ok, async_ok, sync_refuse, async_refuse


async def test_chain_runs_all_checks_in_order_when_all_pass():
    calls: list[str] = []
    sync_ok, async_ok, _, _ = recording_checks(calls)
    server = await wsnb.serve(wsnb.echo, process_request=wsnb.chain(async_ok, sync_ok, async_ok))
    assert await wsnb.exchange(server, ["in"]) == ["in"]
    assert calls == ["async_ok", "sync_ok", "async_ok"]


@pytest.mark.parametrize(
    ("order", "status", "ran"),
    [
        (["sync_ok", "async_refuse", "sync_refuse"], 403, ["sync_ok", "async_refuse"]),
        (["async_ok", "sync_refuse", "async_refuse"], 401, ["async_ok", "sync_refuse"]),
        (["sync_refuse", "async_refuse"], 401, ["sync_refuse"]),
        (["async_refuse", "sync_refuse"], 403, ["async_refuse"]),
    ],
    ids=[
        "async-refusal-after-sync-pass",
        "sync-refusal-after-async-pass",
        "sync-refusal-first",
        "async-refusal-first",
    ],
)
async def test_chain_first_refusal_wins_and_stops(order, status, ran):
    calls: list[str] = []
    checks = dict(
        zip(
            ["sync_ok", "async_ok", "sync_refuse", "async_refuse"],
            recording_checks(calls),
            strict=True,
        )
    )
    server = await wsnb.serve(wsnb.echo, process_request=wsnb.chain(*(checks[n] for n in order)))
    assert await handshake_status(server) == ("http", status)
    assert calls == ran


async def test_chain_composes_the_real_checks():
    """bearer_auth, max_connections and require_subprotocol together."""
    server = await wsnb.serve(
        wsnb.echo,
        subprotocols=["wsnb.v1"],
        process_request=wsnb.chain(
            wsnb.bearer_auth({"s3cret"}),
            wsnb.max_connections(1),
            wsnb.require_subprotocol("wsnb.v1"),
        ),
    )
    auth = {"additional_headers": {"Authorization": "Bearer s3cret"}}
    assert await handshake_status(server, subprotocols=["wsnb.v1"]) == ("http", 401)
    assert await handshake_status(server, **auth) == ("http", 400)
    async with wsnb.connect(server, subprotocols=["wsnb.v1"], **auth) as ws:
        await assert_echoes(ws, "all checks passed")
        assert await handshake_status(server, subprotocols=["wsnb.v1"], **auth) == ("http", 503)
