"""TLS in two lines: a throwaway certificate authority and a localhost certificate.

Built on trustme (on top of cryptography), which is made for exactly this:
it creates a CA and a certificate for ``localhost`` / ``127.0.0.1`` signed by
it, so the client *verifies* the server as a real one would, instead of
switching verification off. Never use these certificates outside tests and
demos: the CA's key lives in memory, in this process.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass

__all__ = ["LocalTLS", "localhost_tls"]


@dataclass(frozen=True)
class LocalTLS:
    """SSL contexts for a ``wss://`` server on this machine and for its clients.

    Example::

        tls = wsnb.localhost_tls()
        server = await wsnb.serve(wsnb.echo, ssl=tls.server)       # wss://127.0.0.1:port
        await wsnb.exchange(server, ["hi"], ssl=tls.client)
    """

    server: ssl.SSLContext
    """Pass as ``ssl=`` to :func:`wsnb.serve`."""
    client: ssl.SSLContext
    """Pass as ``ssl=`` to :func:`wsnb.connect`: it trusts only the throwaway CA."""
    ca_pem: bytes
    """The CA certificate, for other clients (a browser, ``curl --cacert``)."""


def localhost_tls() -> LocalTLS:
    """Make a throwaway CA and a certificate for localhost and 127.0.0.1.

    Example::

        tls = wsnb.localhost_tls()
        server = await wsnb.serve(wsnb.echo, ssl=tls.server)
        server.url   # 'wss://127.0.0.1:54321'
    """
    import trustme

    authority = trustme.CA(organization_name="wsnb throwaway CA")
    certificate = authority.issue_cert("localhost", "127.0.0.1", "::1")
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate.configure_cert(server)
    client = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    authority.configure_trust(client)
    return LocalTLS(server=server, client=client, ca_pem=authority.cert_pem.bytes())
