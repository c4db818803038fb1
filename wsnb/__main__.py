"""``python -m wsnb``: see :mod:`wsnb.cli`."""

import sys

from .cli import main

sys.exit(main())
