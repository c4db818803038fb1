"""nbformat's few functions the checker uses, typed (nbformat itself is untyped).

Example::

    nb = read(Path("demo.ipynb"))
    write(nb, Path("demo.ipynb"))
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat

__all__ = ["from_dict", "new_output", "output_from_msg", "read", "write"]


def read(path: Path) -> Any:
    """The notebook at ``path``, as nbformat 4.

    Example::

        nb = read(Path("demo.ipynb"))
    """
    return nbformat.read(str(path), as_version=4)  # type: ignore[no-untyped-call]


def write(nb: Any, path: Path) -> None:
    """Write ``nb`` to ``path``.

    Example::

        write(nb, Path("demo.ipynb"))
    """
    nbformat.write(nb, str(path))  # type: ignore[no-untyped-call]


def new_output(kind: str, **fields: Any) -> Any:
    """A new output of ``kind`` ("stream", "error", ...).

    Example::

        new_output("stream", name="stdout", text="42\\n")
    """
    return nbformat.v4.new_output(kind, **fields)  # type: ignore[no-untyped-call]


def from_dict(value: Any) -> Any:
    """``value`` as nbformat nodes (attribute access, deep copies of dicts).

    Example::

        from_dict({"output_type": "stream", "name": "stdout", "text": "42\\n"}).name
    """
    return nbformat.from_dict(value)  # type: ignore[no-untyped-call]


def output_from_msg(msg: dict[str, Any]) -> Any:
    """The output a front end stores for an iopub message.

    Example::

        output_from_msg(kc.get_iopub_msg())
    """
    return nbformat.v4.output_from_msg(msg)  # type: ignore[no-untyped-call]
