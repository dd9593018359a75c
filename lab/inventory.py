"""The local lab's inventory: the hosts the lab runs, in one group, at the lab's addresses.

``homelab lab up`` boots every host listed here (and stops one no longer listed). Host i is at
the lab's ``subnet[11 + i]``: mini .11, studio .12, mac2 .13, so a new host goes at the end.
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

# mac2, a second Mac, serves one tiny model; like the Studio it is a Linux host in the lab.
homelab = _lab.inventory(("mini", "studio", "mac2"))
