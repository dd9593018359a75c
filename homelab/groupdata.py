"""Helpers for the group data files: clear errors, sibling pieces, addresses from the inventory.

pyinfra runs every ``group_data/*.py`` before it contacts any host. ``group_data/all.py``
assembles the whole :class:`~homelab.model.Platform` there, so invalid data stops the deploy
before a connection is made, with messages that name the field and the rule.
"""

from __future__ import annotations

import re
import runpy
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pyinfra.api.exceptions import PyinfraError

# Every service's options become fields a host's data may place (see homelab.services).
import homelab.services  # noqa: F401


class InvalidGroupData(PyinfraError):
    """Group data that breaks a rule. pyinfra prints it as it is, without a traceback."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"invalid group data ({len(problems)} problem(s)):\n{lines}")


def problems_of(error: ValidationError, prefix: str = "", top: str = "") -> list[str]:
    """One line per problem: the field's dotted path, the value when short, and the rule.

    A model built inside another's arguments is validated on its own, so its error paths start
    at that model: they are shown after its class name (``mini: GitSource.ref``).
    """
    out: list[str] = []
    if top and error.title != top:
        prefix = f"{prefix}: {error.title}" if prefix else error.title
    for item in error.errors():
        loc = _dotted((prefix, *item["loc"]) if prefix else item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        # A model's own rule names its field first ("port: ..."): fold it into the path.
        field = re.match(r"^([a-z_]+): ", message)
        if field and loc and "\n" not in message:
            loc, message = f"{loc}.{field.group(1)}", message[field.end() :]
        if "\n" in message:  # cross-field rules come several at once, each with its own path
            out.extend(message.splitlines())
            continue
        value = item.get("input")
        shown = ""
        if item["type"] != "value_error" and not isinstance(value, dict | list | tuple):
            shown = f" (got {value!r})"
        out.append(f"{loc}: {message}{shown}" if loc else f"{message}{shown}")
    return out


def _dotted(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part:
            text += f".{part}" if text else str(part)
    return text


#: Set while ``all.py`` runs the host pieces, so their problems are all reported together.
_assembling: ContextVar[bool] = ContextVar("assembling", default=False)


@contextmanager
def validating(prefix: str = "", top: str = "") -> Iterator[None]:
    """Turn pydantic's errors inside the block into one clear :class:`InvalidGroupData`.

    ``top`` names the model the block builds, whose error paths need no class name. A host
    piece (``prefix`` set) that pyinfra loads as its own group's data stays quiet on error:
    ``all.py`` runs the same file again through :func:`siblings` and reports the problems of
    every piece at once, still before any host is contacted.
    """
    try:
        yield
    except ValidationError as error:
        if prefix and not _assembling.get():
            return
        raise InvalidGroupData(problems_of(error, prefix, top)) from None
    except InvalidGroupData:
        raise
    except Exception as error:  # a Python mistake in the data: one line, like the data's
        if prefix and not _assembling.get():
            return
        raise InvalidGroupData([python_problem(error)]) from None


def python_problem(error: BaseException, file: str | None = None) -> str:
    """``file:line: Kind: message`` for an error raised by group data code (not by pydantic).

    The line is the deepest one of ``file`` (when given: the inventory) or else of the group
    data files (a ``group_data`` folder) the error went through, else the deepest of all.
    """
    if isinstance(error, SyntaxError):
        return f"{error.filename}:{error.lineno}: SyntaxError: {error.msg}"
    frames = traceback.extract_tb(error.__traceback__)
    ours = [
        f
        for f in frames
        if (f.filename == file if file else "group_data" in Path(f.filename).parts)
    ] or frames
    where = f"{ours[-1].filename}:{ours[-1].lineno}: " if ours else ""
    return f"{where}{type(error).__name__}: {error}"


def siblings(file: str, *names: str) -> dict[str, dict[str, Any]]:
    """Run group data files beside ``file`` (``hosts/mini`` is ``hosts/mini.py`` there) and
    return their names by file stem, collecting every file's problems.

    They are run, not imported: ``group_data`` is a folder of data files, not a package. A
    Python mistake in one (a syntax error, an undefined name) is a problem like the others.
    """
    found: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    token = _assembling.set(True)
    try:
        for name in names:
            path = Path(file).parent / f"{name}.py"
            try:
                found[path.stem] = runpy.run_path(str(path))
            except InvalidGroupData as error:
                problems += error.problems
            except Exception as error:
                problems.append(python_problem(error))
    finally:
        _assembling.reset(token)
    if problems:
        raise InvalidGroupData(problems)
    return found


#: Set by :func:`real_platform`: the hosts and addresses to assemble instead of the inventory's.
_addresses: ContextVar[dict[str, str] | None] = ContextVar("addresses", default=None)


def inventory_addresses() -> dict[str, str]:
    """Each host's address, by name, in the inventory being loaded (pyinfra's context while it
    loads group data), in the inventory's order."""
    given = _addresses.get()
    if given is not None:
        return dict(given)
    from pyinfra.context import inventory  # a context proxy: set while pyinfra loads group data

    try:
        hosts = list(inventory)
    except Exception:  # outside pyinfra, a context error
        raise InvalidGroupData(
            ["inventory: none is being loaded (rule: run through pyinfra)"]
        ) from None
    if not hosts:
        raise InvalidGroupData(["inventory: no host (rule: the inventory names every host)"])
    return {host.name: str(host.data.get("ssh_hostname") or host.name) for host in hosts}


def host_pieces(file: str, names: list[str]) -> dict[str, Any]:
    """Each named host's data file ``hosts/<name>.py`` beside ``file``, run (its ``host``),
    every file's problems collected; a host with no data file is one of them."""
    problems: list[str] = []
    present: list[str] = []
    for name in names:
        path = Path(file).parent / "hosts" / f"{name}.py"
        if path.is_file():
            present.append(f"hosts/{name}")
        else:
            problems.append(
                f"hosts.{name}: no data file {path} (rule: a host joins by an inventory entry "
                "and its data file hosts/<name>.py)"
            )
    try:
        found = siblings(file, *present)
    except InvalidGroupData as error:
        problems = error.problems + problems
        found = {}
    if problems:
        raise InvalidGroupData(problems)
    out: dict[str, Any] = {}
    for name in names:
        piece = found[name]
        if "host" not in piece:
            raise InvalidGroupData([f"hosts/{name}.py: defines no 'host' (rule: host = Host(...))"])
        out[name] = piece["host"]
    return out


#: The host data key by which an inventory names the group data folder its platform comes
#: from, when that is not the project's own (the lab's inventory names ``lab/group_data``).
DATA_KEY = "homelab_data"


def takes_data_from(file: str) -> bool:
    """Whether the inventory being loaded takes its platform from ``file``'s folder.

    pyinfra runs the project's ``group_data`` and the inventory's own folder's, in that order:
    an inventory whose hosts name another folder (``homelab_data``) has its platform there,
    and the project's data, whose hosts it does not describe, stays out of its way."""
    if _addresses.get() is not None:
        return True  # asked for by real_platform: these hosts are this data's
    from pyinfra.context import inventory

    try:
        named = {str(h.data.get(DATA_KEY)) for h in inventory if h.data.get(DATA_KEY)}
    except Exception:  # outside pyinfra, no inventory: the data is asked for directly
        return True
    return not named or str(Path(file).resolve().parent) in named


def assemble(file: str, **settings: Any) -> Any:
    """The platform of the inventory being loaded: every host it names, each from its data
    file beside ``file``, with the platform-wide ``settings``; validated as a whole. None when
    the inventory takes its platform from another folder (:func:`takes_data_from`)."""
    from homelab.model import Platform

    if not takes_data_from(file):
        return None
    addresses = inventory_addresses()
    hosts = host_pieces(file, list(addresses))
    with validating(top="Platform"):
        return Platform(addresses=addresses, hosts=hosts, **settings)


def real_platform(all_py: str, addresses: dict[str, str]) -> Any:
    """The platform ``all_py`` assembles for the hosts (and addresses) given instead of the
    inventory's: the lab builds its platform on the real data this way."""
    token = _addresses.set(addresses)
    try:
        return siblings(all_py, Path(all_py).stem)[Path(all_py).stem]["platform"]
    finally:
        _addresses.reset(token)
