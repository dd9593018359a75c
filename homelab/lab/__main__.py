"""``python -m homelab.lab up|down|destroy|status|ssh``."""

import sys

from homelab.lab.cli import main

sys.exit(main())
