"""wsnb.auth: token_checker, first_message_auth, bearer_auth, basic_auth."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from helpers import WAIT, auth_message
from websockets.asyncio.server import basic_auth as websockets_basic_auth
from websockets.exceptions import InvalidStatus

import wsnb
import wsnb.auth

# -- b. token_checker: constant-time comparison ----------------------------------------------


@pytest.fixture
def compare_calls(monkeypatch):
    """Count hmac.compare_digest calls made by wsnb.auth (the real one still decides)."""
    import hmac

    calls: list[tuple[bytes, bytes]] = []

    def counting(a, b):
        calls.append((a, b))
        return hmac.compare_digest(a, b)

    monkeypatch.setattr(wsnb.auth, "hmac", SimpleNamespace(compare_digest=counting))
    return calls


@pytest.mark.parametrize(
    ("candidate", "user"),
    [
        ("t-first", "ada"),
        ("t-middle", "bob"),
        ("t-last", "cy"),
        ("nope", None),
        ("", None),
        ("t-firs", None),
        ("t-first-and-more", None),
    ],
    ids=["first", "middle", "last", "none", "empty", "prefix", "extension"],
)
def test_token_checker_compares_every_known_token(compare_calls, candidate, user):
    """Whether the candidate matches the first, the last or no token, every known
    token is compared with hmac.compare_digest, on bytes."""
    check = wsnb.token_checker({"t-first": "ada", "t-middle": "bob", "t-last": "cy"})
    assert check(candidate) == user
    assert len(compare_calls) == 3
    assert all(isinstance(a, bytes) and isinstance(b, bytes) for a, b in compare_calls)
    assert {b for _, b in compare_calls} == {b"t-first", b"t-middle", b"t-last"}


def test_token_checker_with_a_collection_of_str_tokens(compare_calls):
    """A collection of tokens (no names) maps every valid one to ``"user"``."""
    check = wsnb.token_checker(["alpha", "beta"])
    assert check("beta") == "user"
    assert check("alpha") == "user"
    assert check("gamma") is None
    assert len(compare_calls) == 6


def test_token_checker_with_a_mapping_and_unicode_tokens():
    check = wsnb.token_checker({"s3cret": "ada", "clé-ü": "zoë"})
    assert check("s3cret") == "ada"
    assert check("clé-ü") == "zoë"
    assert check("cle-u") is None
    assert check("S3CRET") is None


def test_token_checker_never_raises_on_a_str_that_is_not_utf8_encodable():
    """A token decoded from JSON can hold a lone surrogate: it is just not valid."""
    check = wsnb.token_checker({"s3cret": "ada"})
    assert check("\ud800") is None


async def test_first_message_auth_accepts_a_check_function():
    """``tokens`` may be a function token -> user (or None)."""

    def check(token):
        return "fn-user" if token == "from-a-function" else None

    async def whoami(ws):
        await ws.send(ws.username)

    server = await wsnb.serve(wsnb.first_message_auth(whoami, check, timeout=WAIT))
    replies = await wsnb.exchange(server, [auth_message("from-a-function")], replies=2)
    assert [json.loads(replies[0])["data"], replies[1]] == [{"user": "fn-user"}, "fn-user"]


# -- c. bearer_auth and basic_auth ------------------------------------------------------------


async def whoami(ws):
    await ws.send(ws.username)


@pytest.fixture
async def bearer_server():
    return await wsnb.serve(whoami, process_request=wsnb.bearer_auth({"s3cret": "ci"}))


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Bearer "},
        {"Authorization": "Basic czNjcmV0"},
        {"Authorization": "s3cret"},
    ],
    ids=["no-header", "wrong-token", "empty-token", "other-scheme", "no-scheme"],
)
async def test_bearer_auth_refuses_with_401_and_www_authenticate(bearer_server, headers):
    with pytest.raises(InvalidStatus) as info:
        async with wsnb.connect(bearer_server, additional_headers=headers):
            pass
    response = info.value.response
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert not bearer_server.connections


@pytest.mark.parametrize("scheme", ["Bearer", "bearer"])
async def test_bearer_auth_lets_a_valid_token_in_and_sets_username(bearer_server, scheme):
    replies = await wsnb.exchange(
        bearer_server, [], replies=1, additional_headers={"Authorization": f"{scheme} s3cret"}
    )
    assert replies == ["ci"]


def test_basic_auth_is_websockets_own():
    assert wsnb.basic_auth is websockets_basic_auth
    assert wsnb.auth.basic_auth is websockets_basic_auth


async def test_basic_auth_reexport_refuses_then_admits():
    server = await wsnb.serve(
        whoami, process_request=wsnb.basic_auth(realm="wsnb", credentials=("ada", "pw"))
    )
    with pytest.raises(InvalidStatus) as info:
        async with wsnb.connect(server):
            pass
    assert info.value.response.status_code == 401
    assert info.value.response.headers["WWW-Authenticate"].startswith("Basic")

    with pytest.raises(InvalidStatus) as info:
        async with wsnb.connect(server.url.replace("ws://", "ws://ada:wrong@")):
            pass
    assert info.value.response.status_code == 401

    assert await wsnb.exchange(server.url.replace("ws://", "ws://ada:pw@"), [], replies=1) == [
        "ada"
    ]
