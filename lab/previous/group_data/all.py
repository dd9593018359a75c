"""The lab's platform with Open WebUI one pinned release back (``PREVIOUS``).

Its database schema is the same as the current release's (no new migrations between them), so
the lab can go from either to the other.
"""

from pathlib import Path

from homelab.groupdata import siblings, validating
from homelab.model import Platform

__all__ = ["platform"]

PREVIOUS = "0.12.3"

_lab: Platform = siblings(
    str(Path(__file__).resolve().parents[2] / "group_data" / "all.py"), "all"
)["all"]["platform"]

with validating(top="Platform"):
    _ow = _lab.mini.open_webui
    platform = _lab.evolve(
        mini=_lab.mini.evolve(open_webui=_ow.evolve(package=_ow.package.evolve(version=PREVIOUS)))
    )
