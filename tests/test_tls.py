"""wsnb.tls: localhost TLS with a throwaway CA."""

from __future__ import annotations

import ssl

import pytest

import wsnb
import wsnb.auth

# -- g. TLS -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls():
    return wsnb.localhost_tls()


async def test_tls_server_echoes_for_a_client_trusting_the_throwaway_ca(tls):
    server = await wsnb.serve(wsnb.echo, ssl=tls.server)
    assert server.url.startswith("wss://127.0.0.1:")
    assert await wsnb.exchange(server, ["over tls"], ssl=tls.client) == ["over tls"]
    localhost = f"wss://localhost:{server.port}"
    assert await wsnb.exchange(localhost, ["by name"], ssl=tls.client) == ["by name"]


@pytest.mark.parametrize("client_ssl", ["default-context", "no-ssl-argument"])
async def test_tls_default_trust_rejects_the_throwaway_certificate(tls, client_ssl):
    server = await wsnb.serve(wsnb.echo, ssl=tls.server)
    options = {"ssl": ssl.create_default_context()} if client_ssl == "default-context" else {}
    with pytest.raises(ssl.SSLCertVerificationError):
        async with wsnb.connect(server, **options):
            pass
    assert await wsnb.exchange(server, ["still fine"], ssl=tls.client) == ["still fine"]


def test_tls_ca_pem_is_a_pem_certificate(tls):
    assert tls.ca_pem.startswith(b"-----BEGIN CERTIFICATE-----")
    assert tls.ca_pem.rstrip().endswith(b"-----END CERTIFICATE-----")
    # Another client can trust it from the PEM alone.
    context = ssl.create_default_context(cadata=tls.ca_pem.decode())
    assert context.cert_store_stats()["x509_ca"] >= 1
