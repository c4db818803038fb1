"""Shared fixtures: every test starts and ends with no wsnb server running."""

import pytest

import wsnb


@pytest.fixture(autouse=True)
async def _stop_wsnb_servers():
    """Stop every server a test left behind, on the test's own loop.

    wsnb's registry is process-global, so a server leaked by one test would
    be replaced by (or clash with) the next test's. The fixture is async so
    that it runs on the same loop as an async test (where in-loop servers
    live); for a synchronous test it runs on a loop of its own, which is
    fine for serve_in_thread servers.
    """
    assert wsnb.running_servers() == [], "a previous test leaked a wsnb server"
    yield
    await wsnb.stop_all()
    assert wsnb.running_servers() == []
