"""Tests of wsnb.core: the protocol rules, with no sockets and no event loop."""
