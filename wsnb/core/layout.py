"""One frame's bytes with RFC 6455's fields labelled (section 5.2), for ``WireFrame.layout``."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .wire import WireFrame

__all__ = ["layout"]


def layout(frame: WireFrame) -> str:
    """The bytes of ``frame``, one row per field: offsets, hex, bits, meaning.

    The example is in :meth:`wsnb.core.wire.WireFrame.layout`.
    """
    head, rows = frame.header, []
    b0, b1 = head[0], head[1]
    bits0 = f"{b0 >> 7} {b0 >> 6 & 1} {b0 >> 5 & 1} {b0 >> 4 & 1} {b0 & 15:04b}"
    fields0 = f"FIN={b0 >> 7} RSV1={b0 >> 6 & 1} RSV2={b0 >> 5 & 1} RSV3={b0 >> 4 & 1}"
    rows.append(
        ("byte 0", f"{b0:02x}", bits0, f"{fields0} opcode={b0 & 15:#x} ({frame.opcode.name})")
    )
    code = b1 & 127
    meaning = {126: "126: 16-bit length follows", 127: "127: 64-bit length follows"}
    rows.append(("byte 1", f"{b1:02x}", f"{b1 >> 7} {code:07b}",
                 f"MASK={b1 >> 7} payload length={meaning.get(code, code)}"))  # fmt: skip
    at = 2
    if code >= 126:
        width = 2 if code == 126 else 8
        rows.append((_span(at, width), head[at : at + width].hex(" "), "",
                     f"extended payload length={frame.length}"))  # fmt: skip
        at += width
    if frame.mask_key is not None:
        rows.append((_span(at, 4), frame.mask_key.hex(" "), "", "masking key"))
        at += 4
    rows.append((_span(at, frame.length), _payload_bytes(frame), "", _payload_label(frame)))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
        + "  "
        + row[3]
        for row in rows
    )


def _payload_bytes(frame: WireFrame) -> str:
    more = " …" if frame.length > 16 else ""
    return frame.payload[:16].hex(" ") + more


def _payload_label(frame: WireFrame) -> str:
    if frame.length == 0:
        return "no payload"
    label = "payload, masked" if frame.masked else "payload"
    if frame.rsv1:
        label += ", compressed"
    if frame.masked or frame.rsv1:
        label += " -> " + frame.data[:16].hex(" ") + (" …" if frame.size > 16 else "")
    return f"{label} {frame.preview}"


def _span(start: int, width: int) -> str:
    return f"byte {start}" if width == 1 else f"bytes {start}-{start + width - 1}"
