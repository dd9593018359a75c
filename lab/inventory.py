"""The local lab's inventory: the groups and host names of ``inventory.py``, the lab's addresses.

Addresses, key and known_hosts come from ``homelab.lab.config`` (the one place that defines
them); HOMELAB_LAB_DIR and HOMELAB_LAB_SUBNET move them as they move the lab. Bring the lab up
first: ``homelab lab up``.
"""

import sys
from pathlib import Path

try:
    from homelab.lab.config import load_config
except ImportError:  # pyinfra run from a checkout without the package installed
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from homelab.lab.config import load_config

_lab = load_config()

mini = [("mini", _lab.inventory_data("mini"))]
studio = [("studio", _lab.inventory_data("studio"))]
