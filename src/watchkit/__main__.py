"""``python -m watchkit``."""

import sys

from watchkit.cli import main

sys.exit(main())
