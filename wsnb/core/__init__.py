"""wsnb's pure core: the protocol's rules as plain objects, no sockets, no asyncio.

* :mod:`~wsnb.core.envelope`: parsing requests, structured protocol errors;
* :mod:`~wsnb.core.dispatch`: message types to handlers;
* :mod:`~wsnb.core.history`: numbered history, epochs, all-or-nothing replay;
* :mod:`~wsnb.core.rooms`: rooms, members, presence: requests in, messages out.
"""

from .dispatch import Dispatcher
from .envelope import Envelope, ErrorCode, ProtocolError, parse_envelope
from .history import History, Replay
from .rooms import Limits, Outgoing, Room, RoomsCore

__all__ = [
    "Dispatcher",
    "Envelope",
    "ErrorCode",
    "History",
    "Limits",
    "Outgoing",
    "ProtocolError",
    "Replay",
    "Room",
    "RoomsCore",
    "parse_envelope",
]
