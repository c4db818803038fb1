"""``python -m wsnb check``: run notebooks strictly and say what is wrong with them.

The command line lives in :mod:`wsnb.checking.command`; :mod:`wsnb.cli` only
hands it the ``check`` subcommand. Nothing here imports pytest or nbval at
import time: they are needed only when a check runs (``pip install
'wsnb[check]'``).

Example::

    python -m wsnb check notebooks/
"""

from __future__ import annotations

from .command import add_check_parser, run_check

__all__ = ["add_check_parser", "run_check"]
