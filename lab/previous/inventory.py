"""The lab with Open WebUI at its previous pinned release: the starting point of an upgrade.

The same hosts as ``lab/inventory.py``; its group data (``group_data/all.py`` here) is the lab's
with one difference. ``tests/lab/test_backup.py`` deploys it, then the lab's own data, to
rehearse an upgrade; ``homelab lock`` keeps its lock beside the others.
"""

import runpy
from pathlib import Path

_lab = runpy.run_path(str(Path(__file__).resolve().parent.parent / "inventory.py"))

homelab = _lab["homelab"]
