"""A browser chat client in a cell's output: the page itself talks to the kernel's server.

:class:`BrowserChat` displays plain HTML and JavaScript (no extension to
install). The browser opens a WebSocket straight to a :class:`wsnb.Rooms`
server running in the kernel and speaks docs/protocol.md: a message list, an
input box, presence, reconnection with resume. Text from the network is only
ever inserted as text.
"""

from __future__ import annotations

import secrets
from html import escape
from importlib.resources import files
from typing import Any

from .typing import Target

__all__ = ["BrowserChat"]

_STYLE = """
.wsnb-chat{font-family:sans-serif;font-size:13px;border:1px solid #bbb;border-radius:6px;
  padding:6px;max-width:480px}
.wsnb-chat-status{color:#555;font-size:12px}
.wsnb-chat-members{color:#333;font-size:12px;margin:2px 0}
.wsnb-chat ol.wsnb-chat-messages{list-style:none!important;margin:4px 0!important;
  padding:4px!important;overflow-y:auto;background:#fafafa;border:1px solid #eee}
.wsnb-chat ol.wsnb-chat-messages li{margin:0 0 2px 0!important}
.wsnb-chat-from{font-weight:bold}
.wsnb-chat-note{color:#777;font-style:italic}
.wsnb-chat-text{white-space:pre-wrap}
.wsnb-chat form{display:flex;gap:4px}
.wsnb-chat textarea{flex:1;resize:vertical;font:inherit}
"""


def _script() -> str:
    return files("wsnb").joinpath("static/chat.js").read_text(encoding="utf-8")


class BrowserChat:
    """A chat client that runs in the browser, displayed in the cell's output.

    ``target`` is a :class:`wsnb.Rooms` server (or its URL). The browser
    connects to ``url`` (default: the server's URL), joins ``room`` as
    ``name``, shows the room's recent history, members and new messages, and
    sends what you type: Enter sends, Shift+Enter starts a new line. Two of
    them side by side chat with each other and with Python clients; the
    kernel sees every message in the room's history.

    It reconnects (and resumes) when the connection drops; it stops trying
    once the server has been gone for ``give_up_after`` seconds, and says so.
    When its output is removed or replaced (the cell re-run, the output
    cleared), it leaves the room for good.

    The page must be able to reach the URL: true when JupyterLab and the
    kernel run on the same machine as the browser. For a remote JupyterLab,
    pass the URL through jupyter-server-proxy as ``url`` (docs/browser.md).

    Example::

        rooms = wsnb.Rooms()
        server = await wsnb.serve(rooms)
        wsnb.BrowserChat(server, room="lobby", name="ada")
    """

    def __init__(
        self,
        target: Target,
        room: str = "lobby",
        name: str = "browser",
        *,
        url: str | None = None,
        height: int = 220,
        give_up_after: float = 60.0,
    ) -> None:
        self.url = url or (target if isinstance(target, str) else target.url)
        self.room = room
        self.name = name
        self.height = height
        self.give_up_after = give_up_after

    def __repr__(self) -> str:
        return f"<wsnb.BrowserChat {self.name!r} in {self.room!r} at {self.url}>"

    def _repr_html_(self) -> str:
        # Random, not a counter: after a kernel restart a counter would reuse
        # the id of an old output still on the page.
        element = f"wsnb-chat-{secrets.token_hex(8)}"
        attributes: dict[str, Any] = {
            "id": element,
            "class": "wsnb-chat",
            "data-url": self.url,
            "data-room": self.room,
            "data-name": self.name,
            "data-give-up-after": float(self.give_up_after),
            "data-state": "loading",
        }
        opening = " ".join(f'{key}="{escape(str(value))}"' for key, value in attributes.items())
        return (
            f"<div {opening}><style>{_STYLE}</style>"
            f'<div class="wsnb-chat-status">Loading the chat (it needs a browser with '
            f"JavaScript; a trusted notebook in JupyterLab runs it).</div>"
            f'<div class="wsnb-chat-members"></div>'
            f'<ol class="wsnb-chat-messages" style="height:{int(self.height)}px"></ol>'
            f'<form><textarea rows="1" placeholder="Message {escape(self.room)} as '
            f'{escape(self.name)}" title="Enter sends; Shift+Enter starts a new line" '
            f'aria-label="message">'
            f'</textarea><button type="submit">Send</button></form>'
            f"</div><script>(function(){{{_script()}\n"
            f'wsnbChat(document.getElementById("{element}"));}})();</script>'
        )
