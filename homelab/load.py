"""Load the platform the way pyinfra does: the inventory file and its group data, no host."""

from __future__ import annotations

import os
from pathlib import Path

# pyinfra's CLI patches the standard library with gevent on import: do it before anything else
# imports ssl, as pyinfra's own entry point does.
import pyinfra_cli.inventory
from pyinfra.api.exceptions import PyinfraError
from pyinfra_cli.exceptions import UnexpectedExternalError
from pyinfra_cli.util import PYTHON_CODES

from homelab import PROJECT_ROOT
from homelab.groupdata import InvalidGroupData, python_problem
from homelab.model import Platform

DEFAULT_INVENTORY = PROJECT_ROOT / "inventory.py"


class InvalidInventory(PyinfraError):
    """A Python mistake in the inventory file, in one line: ``inventory.py:3: NameError: ...``."""


def load_inventory(inventory: Path | str = DEFAULT_INVENTORY):  # type: ignore[no-untyped-def]
    """pyinfra's own inventory, with group data from the project and the inventory's folder."""
    from pyinfra.api.state import State
    from pyinfra.context import ctx_state

    path = Path(inventory).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"inventory: {path} is not a file")
    if not ctx_state.isset():  # type: ignore[no-untyped-call]
        ctx_state.set(State())  # type: ignore[no-untyped-call]
    # pyinfra keeps each file's compiled code for the life of its process: the inventory and
    # the group data are read as they are now (a host added since the last load is there).
    PYTHON_CODES.clear()
    try:
        return pyinfra_cli.inventory.make_inventory(str(path), cwd=os.fspath(PROJECT_ROOT))
    except (UnexpectedExternalError, SyntaxError) as error:
        # pyinfra wraps a mistake in the files it runs (a syntax error it compiles first, bare)
        # for its own traceback printer: one line instead, like the group data's problems.
        cause = error.exception if isinstance(error, UnexpectedExternalError) else error
        where = error.filename
        line = python_problem(cause, where)
        if where and Path(where).resolve() == path:
            raise InvalidInventory(line) from None
        raise InvalidGroupData([line]) from None


def load_platform(inventory: Path | str = DEFAULT_INVENTORY) -> Platform:
    """The validated platform of ``inventory``; raises InvalidGroupData naming each problem."""
    inv = load_inventory(inventory)
    platform = next(iter(inv)).data.get("platform")
    if not isinstance(platform, Platform):
        raise TypeError(f"group data of {inventory} defines no 'platform'")
    return platform
