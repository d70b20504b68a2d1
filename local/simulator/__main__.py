"""``python -m local.simulator``: see ``cli.main``."""

import sys

from .cli import main

sys.exit(main())
