"""The wire reader on the frames of RFC 6455 section 5.7 and the handshake of section 1.3."""

from __future__ import annotations

import base64
import hashlib

import pytest
from websockets.frames import Opcode

from wsnb.core.wire import Conversation, HttpMessage, WireFrame, WireReader, read_frames

# RFC 6455, section 5.7 "Examples".
UNMASKED_HELLO = bytes.fromhex("810548656c6c6f")
MASKED_HELLO = bytes.fromhex("818537fa213d7f9f4d5158")
FRAGMENTED_HELLO = bytes.fromhex("010348656c") + bytes.fromhex("80026c6f")
UNMASKED_PING = bytes.fromhex("890548656c6c6f")
MASKED_PONG = bytes.fromhex("8a8537fa213d7f9f4d5158")
BINARY_256 = bytes.fromhex("827e0100") + bytes(256)
BINARY_64K = bytes.fromhex("827f0000000000010000") + bytes(65536)

# RFC 6455, section 1.3: the client's key and the server's answer.
REQUEST = (
    b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n"
    b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Origin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\n"
    b"Sec-WebSocket-Version: 13\r\n\r\n"
)
RESPONSE = (
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat\r\n\r\n"
)


def one(data: bytes, sender: str) -> WireFrame:
    [frame] = read_frames(data, sender=sender)  # type: ignore[arg-type]
    return frame


def test_rfc_masked_hello_has_its_key_length_and_header_size():
    frame = one(MASKED_HELLO, "client")
    assert (frame.opcode, frame.fin, frame.rsv1, frame.masked) == (Opcode.TEXT, True, False, True)
    assert frame.mask_key == bytes.fromhex("37fa213d")
    assert (frame.length, frame.header_size, frame.data) == (5, 6, b"Hello")
    assert frame.payload == bytes.fromhex("7f9f4d5158")  # as sent: masked
    assert frame.preview == "'Hello'"


def test_rfc_unmasked_hello_from_the_server_has_a_two_byte_header():
    frame = one(UNMASKED_HELLO, "server")
    assert (frame.masked, frame.mask_key, frame.header_size, frame.data) == (
        False,
        None,
        2,
        b"Hello",
    )


def test_rfc_fragmented_hello_is_a_text_frame_then_a_final_continuation():
    first, last = read_frames(FRAGMENTED_HELLO, sender="server")
    assert (first.opcode, first.fin, first.data) == (Opcode.TEXT, False, b"Hel")
    assert (last.opcode, last.fin, last.data) == (Opcode.CONT, True, b"lo")


def test_rfc_ping_and_masked_pong_carry_their_payload():
    assert (one(UNMASKED_PING, "server").opcode, one(UNMASKED_PING, "server").data) == (
        Opcode.PING,
        b"Hello",
    )
    pong = one(MASKED_PONG, "client")
    assert (pong.opcode, pong.mask_key, pong.data) == (
        Opcode.PONG,
        bytes.fromhex("37fa213d"),
        b"Hello",
    )


@pytest.mark.parametrize(
    ("data", "length", "header_size"), [(BINARY_256, 256, 4), (BINARY_64K, 65536, 10)]
)
def test_rfc_long_lengths_use_the_16_and_64_bit_fields(data, length, header_size):
    frame = one(data, "server")
    assert (frame.opcode, frame.length, frame.header_size, frame.size) == (
        Opcode.BINARY,
        length,
        header_size,
        length,
    )
    assert len(frame.data) == 64  # only the first `keep` bytes are kept


def test_layout_labels_every_field_of_the_masked_hello():
    lines = one(MASKED_HELLO, "client").layout().splitlines()
    assert lines[0].split()[:2] == ["byte", "0"] and "FIN=1" in lines[0] and "(TEXT)" in lines[0]
    assert "MASK=1 payload length=5" in lines[1]
    assert "37 fa 21 3d" in lines[2] and lines[2].endswith("masking key")
    assert "7f 9f 4d 51 58" in lines[3] and "48 65 6c 6c 6f 'Hello'" in lines[3]


def test_layout_names_the_extended_length():
    assert "126: 16-bit length follows" in one(BINARY_256, "server").layout()
    assert "extended payload length=65536" in one(BINARY_64K, "server").layout()


def test_bytes_fed_one_at_a_time_give_the_same_frames():
    data = MASKED_HELLO + MASKED_PONG + bytes.fromhex("8882") + bytes(4) + b"\x03\xe8"
    reader = WireReader("client", handshake=False)
    frames = [record for i in range(len(data)) for record in reader.feed(data[i : i + 1], 0.0)]
    assert frames == read_frames(data, sender="client")
    assert [f.opcode for f in frames] == [Opcode.TEXT, Opcode.PONG, Opcode.CLOSE]
    assert (frames[-1].close_code, frames[-1].close_reason, frames[-1].preview) == (
        1000,
        "",
        "1000 ''",
    )


def test_the_rfc_handshake_is_read_and_its_accept_key_checks_out():
    talk = Conversation(1)
    [request] = talk.feed("client", REQUEST, 0.0)
    [response] = talk.feed("server", RESPONSE, 0.0)
    assert isinstance(request, HttpMessage) and request.start_line == "GET /chat HTTP/1.1"
    assert response.start_line == "HTTP/1.1 101 Switching Protocols"
    key = request.header("sec-websocket-key")
    guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
    accept = base64.b64encode(hashlib.sha1((key + guid).encode()).digest()).decode()
    assert accept == response.header("Sec-WebSocket-Accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    assert talk.feed("client", MASKED_HELLO, 0.0)[0].data == b"Hello"


def test_a_refused_handshake_has_a_response_and_no_frames():
    talk = Conversation(1)
    talk.feed("client", REQUEST, 0.0)
    body = b"Failed to open a WebSocket connection.\n"
    refusal = b"HTTP/1.1 403 Forbidden\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    [response] = talk.feed("server", refusal + UNMASKED_HELLO, 0.0)
    assert response.start_line == "HTTP/1.1 403 Forbidden"
    assert talk.feed("server", UNMASKED_HELLO, 0.0) == []


def test_a_payload_over_max_payload_is_counted_not_kept_and_reading_goes_on():
    reader = WireReader("server", handshake=False, max_payload=100)
    big, after = reader.feed(BINARY_256 + UNMASKED_HELLO, 0.0)
    assert (big.length, big.size, big.data, big.payload) == (256, 256, b"", b"")
    assert "not kept" in big.preview
    assert after.data == b"Hello"
    assert reader.error is None


def test_masking_in_the_wrong_direction_stops_the_reader_with_the_reason():
    reader = WireReader("server", handshake=False)  # servers must not mask
    assert reader.feed(MASKED_HELLO, 0.0) == []
    assert reader.error == "ProtocolError: incorrect masking"


def test_previews_escape_control_characters_and_binary():
    frame = one(bytes.fromhex("8103") + b"a\x1b[", "server")
    assert frame.preview == "'a\\x1b['"
    assert one(bytes.fromhex("8202ff00"), "server").preview == "b'\\xff\\x00'"
