"""``python -m watchkit``."""

import sys

from watchkit._cli import main

sys.exit(main())
