"""wsnb's pure core: the protocol's rules as plain objects, no sockets, no asyncio.

* :mod:`~wsnb.core.envelope`: requests parsed and built;
* :mod:`~wsnb.core.errors`, :mod:`~wsnb.core.fields`: structured protocol errors, one field checker;
* :mod:`~wsnb.core.dispatch`: message types to handlers;
* :mod:`~wsnb.core.history`: numbered history bounded in bytes, epochs, all-or-nothing replay;
* :mod:`~wsnb.core.rooms`: rooms, members, presence: requests in, messages out;
  its parts: :mod:`~wsnb.core.room_limits`, :mod:`~wsnb.core.directory` (the rooms,
  their cap), :mod:`~wsnb.core.presence` (deltas batched per tick),
  :mod:`~wsnb.core.reads` (history, members, rooms: pages), :mod:`~wsnb.core.pages`
  (replies that fit a frame);
* :mod:`~wsnb.core.resume`: a subscriber's cursor: deliver, skip, fetch a gap, report a loss;
* :mod:`~wsnb.core.ratelimit`: a token bucket;
* :mod:`~wsnb.core.wire`, :mod:`~wsnb.core.layout`: a connection's bytes read back as its
  handshake and frames, and one frame's fields labelled;
* :mod:`~wsnb.core.deprecation`: old names that still work, with a warning.
"""

from .deprecation import renamed_names
from .dispatch import Dispatcher
from .envelope import Envelope, ErrorCode, ProtocolError, parse_envelope, request_envelope
from .history import History, Replay
from .rooms import Outgoing, Room, RoomLimits, RoomsCore

__all__ = [
    "Dispatcher",
    "Envelope",
    "ErrorCode",
    "History",
    "Outgoing",
    "ProtocolError",
    "Replay",
    "Room",
    "RoomLimits",
    "RoomsCore",
    "parse_envelope",
    "request_envelope",
]

__getattr__ = renamed_names(__name__, {"Limits": ("RoomLimits", RoomLimits)})
