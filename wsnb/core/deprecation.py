"""Old names kept for one release: they still work and say what replaced them.

A module lists its renamed names in a dict and hands it to
:func:`renamed_names`, which returns the module's ``__getattr__``.

>>> import warnings
>>> __getattr__ = renamed_names("example", {"Old": ("New", int)})
>>> with warnings.catch_warnings(record=True) as caught:
...     warnings.simplefilter("always")
...     __getattr__("Old") is int, str(caught[0].message)
(True, 'example.Old is deprecated and will be removed in wsnb 0.3; use example.New')
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

__all__ = ["renamed_names", "warn_renamed"]


def warn_renamed(old: str, new: str) -> None:
    """Warn, from the caller's caller, that ``old`` is now called ``new``."""
    warnings.warn(
        f"{old} is deprecated and will be removed in wsnb 0.3; use {new}",
        DeprecationWarning,
        stacklevel=3,
    )


def renamed_names(module: str, renamed: dict[str, tuple[str, Any]]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that serves each old name in ``renamed`` with a warning.

    ``renamed`` maps an old name to ``(new name, value)``; a new name with a
    dot in it is taken as a full name (another module's).
    """

    def __getattr__(name: str) -> Any:
        if name in renamed:
            new, value = renamed[name]
            warn_renamed(f"{module}.{name}", new if "." in new else f"{module}.{new}")
            return value
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    return __getattr__
