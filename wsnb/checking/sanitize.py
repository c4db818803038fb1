"""Sanitize rules: wsnb's shipped file, then the user's own, in nbval's format.

A rule file holds ``regex:``/``replace:`` pairs under ``[section]`` headings
(nbval's ``--nbval-sanitize-with`` format, so one file serves both tools).
Rules apply in order, wsnb's first, each to the text the previous ones left;
a user's rule with the same regex as a shipped one replaces its
replacement.

Example::

    rules = load_rules(["my_rules.cfg"])
    sanitize("serving on ws://127.0.0.1:8765", rules)   # 'serving on ws://127.0.0.1:PORT'
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from importlib.resources import files
from pathlib import Path
from typing import Any

__all__ = ["SanitizeError", "load_rules", "sanitize", "sanitize_outputs", "shipped_rules_text"]

#: Output keys that are not text to sanitize (nbval leaves them alone too).
_KEEP = ("metadata", "traceback", "output_type", "name", "execution_count", "ename")
_PAIR = re.compile(r"^regex: (.*)$\n^replace: (.*)$", re.MULTILINE)


class SanitizeError(Exception):
    """A sanitize file cannot be read or holds a bad regex; the message says which.

    Example::

        try:
            load_rules(["mine.cfg"])
        except SanitizeError as exc:
            print(exc)   # mine.cfg: bad regex '(unclosed': missing ), unterminated subpattern ...
    """


def shipped_rules_text() -> str:
    """The text of wsnb's own rules (``wsnb/nbval_sanitize.cfg``).

    >>> "[ws_urls]" in shipped_rules_text()
    True
    """
    return files("wsnb").joinpath("nbval_sanitize.cfg").read_text(encoding="utf-8")


def _parse(text: str, origin: str) -> list[tuple[str, str]]:
    pairs = _PAIR.findall(text)
    for regex, _ in pairs:
        try:
            re.compile(regex)
        except re.error as exc:
            raise SanitizeError(f"{origin}: bad regex {regex!r}: {exc}") from None
    if "regex:" in text and not pairs:
        raise SanitizeError(f"{origin}: no 'regex:' line followed by a 'replace:' line")
    return pairs


def load_rules(user_files: Sequence[str | Path] = ()) -> list[tuple[str, str]]:
    """wsnb's rules followed by those of ``user_files``, as ``(regex, replace)`` pairs.

    >>> rules = load_rules()
    >>> sanitize("ws://127.0.0.1:51344/chat", rules)
    'ws://127.0.0.1:PORT/chat'
    """
    rules: dict[str, str] = dict(_parse(shipped_rules_text(), "wsnb/nbval_sanitize.cfg"))
    for name in user_files:
        try:
            text = Path(name).read_text(encoding="utf-8")
        except OSError as exc:
            raise SanitizeError(f"cannot read sanitize file {name}: {exc.strerror}") from None
        rules.update(_parse(text, str(name)))
    return list(rules.items())


def sanitize(text: str, rules: Iterable[tuple[str, str]]) -> str:
    """Apply ``rules`` to ``text``, in order.

    >>> sanitize("took 12 ms", [(r"\\d+ ms", "DURATION")])
    'took DURATION'
    """
    for regex, replace in rules:
        text = re.sub(regex, replace, text)
    return text


def sanitize_outputs(outputs: Iterable[Any], rules: Sequence[tuple[str, str]]) -> list[Any]:
    """Copies of nbformat outputs with every text field sanitized (for ``--store``).

    >>> out = {"output_type": "stream", "name": "stdout", "text": "port 51344\\n"}
    >>> sanitize_outputs([out], load_rules())[0]["text"]
    'port PORT\\n'
    """
    from .nbfile import from_dict

    result = []
    for output in outputs:
        copy = from_dict(dict(output))
        for key, value in output.items():
            if key == "data":
                copy[key] = {
                    mime: sanitize(_joined(v), rules) if mime.startswith("text/") else v
                    for mime, v in value.items()
                }
            elif key not in _KEEP and isinstance(value, str | list):
                copy[key] = sanitize(_joined(value), rules)
        result.append(copy)
    return result


def _joined(value: Any) -> Any:
    return "".join(value) if isinstance(value, list) else value
