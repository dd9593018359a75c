"""The lab's platform with a change, as an inventory of its own: how the lab tests and the
benchmarks rehearse a change an operator makes to the data (a model added, a setting turned).

``changed_lab(folder, body)`` writes ``folder/inventory.py`` (the lab's hosts) and
``folder/group_data/all.py``, whose ``platform`` is ``body`` evaluated with ``lab``, the lab's
own platform, in scope; ``body`` is Python, e.g. ``"lab.evolve(gateway=...)"``.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LAB_INVENTORY = PROJECT_ROOT / "lab" / "inventory.py"
LAB_ALL = PROJECT_ROOT / "lab" / "group_data" / "all.py"

_TEMPLATE = """
from homelab.groupdata import siblings, validating

__all__ = ["platform"]

lab = siblings({lab!r}, "all")["all"]["platform"]
with validating(top="Platform"):
    platform = {body}
"""


def changed_lab(folder: Path, body: str) -> Path:
    """An inventory of the lab's hosts whose platform is ``body``; its path."""
    (folder / "group_data").mkdir(parents=True, exist_ok=True)
    (folder / "inventory.py").write_text(LAB_INVENTORY.read_text())
    text = _TEMPLATE.format(lab=str(LAB_ALL), body=textwrap.dedent(body).strip())
    (folder / "group_data" / "all.py").write_text(text)
    return folder / "inventory.py"


def model_added(host: str, key: str, entry: str) -> str:
    """A ``changed_lab`` body: the lab with one more model, ``entry`` (a ``dict(...)`` as a
    user's data gives it), in the models of ``host``'s service ``key``."""
    on = f"lab.hosts[{host!r}]"
    servers_of = f"{on}.services[{key!r}]"
    return (
        f"lab.evolve(hosts={{**lab.hosts, {host!r}: {on}.evolve({key}={{**{servers_of}"
        f".model_dump(), 'models': [*[m.model_dump() for m in {servers_of}.models], "
        f"{entry}]}})}})"
    )
