"""The lab's platform with Open WebUI one pinned release back (``PREVIOUS``).

Its database schema is the same as the current release's (no new migrations between them), so
the lab can go from either to the other.
"""

from pathlib import Path

from homelab.backup import webui_host
from homelab.groupdata import siblings, validating
from homelab.model import Platform

__all__ = ["platform"]

PREVIOUS = "0.12.3"

_lab: Platform = siblings(
    str(Path(__file__).resolve().parents[2] / "group_data" / "all.py"), "all"
)["all"]["platform"]

with validating(top="Platform"):
    _host = webui_host(_lab)
    _data = _lab.host(_host).model_dump_data()
    _ow = _data["open_webui"]
    _data["open_webui"] = {**_ow, "package": {**_ow["package"], "version": PREVIOUS}}
    platform = _lab.evolve(hosts={**_lab.hosts, _host: _data})
