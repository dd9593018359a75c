"""Load the platform the way pyinfra does: the inventory file and its group data, no host."""

from __future__ import annotations

import os
from pathlib import Path

# pyinfra's CLI patches the standard library with gevent on import: do it before anything else
# imports ssl, as pyinfra's own entry point does.
import pyinfra_cli.inventory

from homelab import PROJECT_ROOT
from homelab.model import Platform

DEFAULT_INVENTORY = PROJECT_ROOT / "inventory.py"


def load_inventory(inventory: Path | str = DEFAULT_INVENTORY):  # type: ignore[no-untyped-def]
    """pyinfra's own inventory, with group data from the project and the inventory's folder."""
    from pyinfra.api.state import State
    from pyinfra.context import ctx_state

    path = Path(inventory).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"inventory: {path} is not a file")
    if not ctx_state.isset():  # type: ignore[no-untyped-call]
        ctx_state.set(State())  # type: ignore[no-untyped-call]
    return pyinfra_cli.inventory.make_inventory(str(path), cwd=os.fspath(PROJECT_ROOT))


def load_platform(inventory: Path | str = DEFAULT_INVENTORY) -> Platform:
    """The validated platform of ``inventory``; raises InvalidGroupData naming each problem."""
    inv = load_inventory(inventory)
    platform = next(iter(inv)).data.get("platform")
    if not isinstance(platform, Platform):
        raise TypeError(f"group data of {inventory} defines no 'platform'")
    return platform
