"""What a host holds, asked in one round trip at the start of its deploy.

pyinfra asks a host one fact at a time: a converged host used to answer about 150 questions
(a file's sha1, a directory's mode, a link's target, a user, a unit's state), each a round trip,
before the deploy could say it had nothing to do. :class:`Snapshot` asks them all at once for
the paths, accounts and units the platform manages on the host, and the deploy steps consult
it: an operation whose outcome the snapshot already shows is not planned at all. Anything the
snapshot does not cover is asked the usual way, so a path it misses costs a round trip, never
a wrong answer.
"""

from __future__ import annotations

import hashlib
import shlex
from dataclasses import dataclass, field

from pyinfra.api.facts import FactBase
from pyinfra.api.operation import OperationMeta
from pyinfra.context import host
from pyinfra.facts.files import File, Link, Sha1File
from pyinfra.operations import files

from homelab.locks import venv_target
from homelab.model import Platform
from homelab.model.takeover import SAVED_SUFFIX
from homelab.render import HostFile
from homelab.services import daemon_files, daemons, services

_SEP = "\t"


@dataclass(frozen=True)
class Entry:
    """One path as the host has it."""

    kind: str  # "f" file, "d" directory, "l" link
    mode: int
    user: str
    group: str
    #: A file's sha1, a link's target; empty for a directory.
    detail: str


@dataclass(frozen=True)
class Account:
    group: str
    groups: frozenset[str]
    home: str
    shell: str


@dataclass
class HostState:
    """The snapshot's answers. ``asked`` are the paths it looked at (present or not)."""

    asked: frozenset[str] = frozenset()
    paths: dict[str, Entry] = field(default_factory=dict)
    accounts: dict[str, Account] = field(default_factory=dict)
    groups: frozenset[str] = frozenset()
    #: unit -> (ActiveState, UnitFileState)
    units: dict[str, tuple[str, str]] = field(default_factory=dict)
    packages: frozenset[str] = frozenset()
    #: Unit files carrying the platform's mark; None: not asked.
    marked: frozenset[str] | None = None
    #: Each ``<opt>/<install>/venvs/<hash>`` folder and its mtime; None: not asked.
    venvs: dict[str, float] | None = None

    def knows(self, path: str) -> bool:
        return path in self.asked

    def entry(self, path: str) -> Entry | None:
        return self.paths.get(path)

    def holds(self, f: HostFile) -> bool:
        """Whether the host's file is ``f`` already: content, owner, group and mode."""
        found = self.paths.get(f.path)
        return (
            found is not None
            and found.kind == "f"
            and found.detail == sha1(f.content)
            and (found.user, found.group, found.mode) == (f.owner, f.group, int(f.mode, 8))
        )

    def has_dir(self, path: str, user: str, group: str, mode: str) -> bool:
        found = self.paths.get(path)
        return (
            found is not None
            and found.kind == "d"
            and (
                found.user,
                found.group,
                found.mode,
            )
            == (user, group, int(mode, 8))
        )

    def running_and_enabled(self, unit: str) -> bool:
        return self.units.get(unit) == ("active", "enabled")

    def stopped_and_disabled(self, unit: str) -> bool:
        """Whether the unit is known to be neither running nor enabled (or not there at all)."""
        found = self.units.get(unit)
        return found is not None and found[0] in ("inactive", "failed") and found[1] != "enabled"

    def active(self, unit: str) -> bool:
        found = self.units.get(unit)
        return found is not None and found[0] == "active"


def sha1(content: str) -> str:
    return hashlib.sha1(content.encode()).hexdigest()


class Snapshot(FactBase[HostState]):
    """Stat and sha1 of paths, accounts, groups, unit states and Debian packages, at once."""

    def command(
        self,
        paths: tuple[str, ...],
        users: tuple[str, ...],
        units: tuple[str, ...],
        marked: tuple[str, str] | None = None,
        venvs: str | None = None,
    ) -> str:
        """``marked``: (a glob of unit files, the line that marks the platform's);
        ``venvs``: the folder whose ``*/venvs/*`` folders are listed."""
        q = shlex.quote
        lines = [
            "for p in " + " ".join(q(p) for p in paths) + "; do",
            '  if [ -L "$p" ]; then k=l; d=$(readlink "$p");',
            '  elif [ -d "$p" ]; then k=d; d=;',
            '  elif [ -f "$p" ]; then k=f; d=$(sha1sum "$p" | cut -d" " -f1);',
            "  else continue; fi",
            '  printf \'P\\t%s\\t%s\\t\' "$p" "$k"',
            "  stat --printf '%a\\t%U\\t%G\\t' \"$p\"",
            "  printf '%s\\n' \"$d\"",
            "done",
        ]
        for user in users:
            lines.append(
                f'getent passwd {q(user)} | awk -F: -v g="$(id -gn {q(user)} 2>/dev/null)" '
                f'-v gs="$(id -Gn {q(user)} 2>/dev/null)" '
                "'{printf \"U\\t%s\\t%s\\t%s\\t%s\\t%s\\n\", $1, g, gs, $6, $7}'"
            )
        lines.append("getent group | cut -d: -f1 | sed 's/^/G\\t/'")
        if units:
            lines.append(
                "command -v systemctl >/dev/null && systemctl show -p Id -p ActiveState "
                "-p UnitFileState " + " ".join(q(u) for u in units) + " | awk -F= "
                "'/^Id=/{id=$2} /^ActiveState=/{a=$2} /^UnitFileState=/{printf "
                '"S\\t%s\\t%s\\t%s\\n", id, a, $2}\''
            )
        lines.append(
            "command -v dpkg-query >/dev/null && dpkg-query -W -f='D\\t${Package}\\t${Status}\\n'"
            " 2>/dev/null | awk -F'\\t' '$3 ~ / installed$/ {print \"D\\t\" $2}'"
        )
        if marked is not None:
            glob, mark = marked
            lines.append("echo 'M'")  # asked, even when none is found
            lines.append(f"grep -l -F -- {q(mark)} {glob} 2>/dev/null | sed 's/^/M\\t/'")
        if venvs is not None:
            lines.append("echo 'V'")
            lines.append(
                f"find {q(venvs)} -mindepth 3 -maxdepth 3 -path '*/venvs/*' -type d "
                "-printf 'V\\t%T@\\t%p\\n' 2>/dev/null"
            )
        lines.append("true")
        return "\n".join(lines)

    def process(self, output: list[str]) -> HostState:
        state = HostState()
        groups: set[str] = set()
        packages: set[str] = set()
        marked: set[str] | None = None
        venvs: dict[str, float] | None = None
        for line in output:
            kind, *rest = line.split(_SEP)
            if kind == "M":
                marked = marked if marked is not None else set()
                marked.update(rest[:1])
                continue
            if kind == "V":
                venvs = venvs if venvs is not None else {}
                if len(rest) == 2:
                    venvs[rest[1]] = float(rest[0])
                continue
            if kind == "P" and len(rest) >= 5:
                path, what, mode, user, group, *detail = rest
                state.paths[path] = Entry(what, int(mode, 8), user, group, _SEP.join(detail))
            elif kind == "U" and len(rest) == 5:
                name, group, others, home, shell = rest
                state.accounts[name] = Account(group, frozenset(others.split()), home, shell)
            elif kind == "G" and rest:
                groups.add(rest[0])
            elif kind == "S" and len(rest) == 3:
                state.units[rest[0]] = (rest[1], rest[2])
            elif kind == "D" and rest:
                packages.add(rest[0])
        state.groups = frozenset(groups)
        state.packages = frozenset(packages)
        state.marked = frozenset(marked) if marked is not None else None
        state.venvs = venvs
        return state


Wanted = tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]


def wanted(
    platform: Platform,
    role: str,
    more_paths: tuple[str, ...] = (),
    more_users: tuple[str, ...] = (),
) -> Wanted:
    """The paths, accounts and units of the platform on a host, from the model alone;
    ``more_paths`` and ``more_users``: what its services' deploys consult besides."""
    h = platform.host(role)
    lay = h.layout
    paths: set[str] = {lay.etc, lay.opt, lay.state, lay.logs, lay.secrets, lay.secret_store}
    paths.add(f"{lay.opt}/uv/.installed-{h.toolchain.uv.version}")
    users: set[str] = set()
    units: set[str] = set()
    same_named = {u.unit for u in h.takeover.units if u.same_name}
    for daemon in daemons(platform, role):
        users.add(daemon.user)
        units.add(daemon.unit)
        if daemon.socket_path:
            units.add(daemon.socket_unit)
        elif daemon.socket_unit_path:  # one an earlier deploy left, to close
            paths.add(daemon.socket_unit_path)
        paths.update({daemon.state_dir, daemon.install_dir, daemon.venv})
        paths.update(f.path for f in daemon_files(platform, daemon))
        paths.update(lay.secret_file(ref.env) for ref in daemon.secrets.values())
        if daemon.secrets_env:
            paths.update({daemon.secrets_env, f"{daemon.secrets_env}.names"})
        if daemon.requirements:
            target = venv_target(daemon)
            paths.update({target, f"{target}/.complete"})
        if daemon.unit in same_named:  # where its legacy unit's file would be kept aside
            paths.add(f"{daemon.unit_path}{SAVED_SUFFIX}")
    # Legacy units the deploy takes over are asked about too.
    units.update(u.unit for u in h.takeover.units)
    for service in services(platform, role):
        paths.update(f.path for f in service.shared_files(platform, role))
    paths.update(more_paths)
    users.update(more_users)
    return tuple(sorted(paths)), tuple(sorted(users)), tuple(sorted(units))


_STATES: dict[str, HostState] = {}


def gather(
    platform: Platform,
    role: str,
    more_paths: tuple[str, ...] = (),
    more_users: tuple[str, ...] = (),
) -> HostState:
    """Ask this host everything at once; the steps read the answers through :func:`current`.

    The snapshot speaks GNU (stat -c, sha1sum, getent, systemctl): where the host's system
    does not, the steps ask pyinfra's facts one at a time, as they would without it.
    """
    h = platform.host(role)
    if not h.os.snapshot:
        _STATES[host.name] = HostState()
        return _STATES[host.name]
    paths, users, units = wanted(platform, role, more_paths, more_users)
    naming = h.os.init.naming(h.layout)
    marked = (f"{naming.directory}/{naming.pattern}", naming.mark) if naming.mark else None
    state = (
        host.get_fact(
            Snapshot, paths=paths, users=users, units=units, marked=marked, venvs=h.layout.opt
        )
        or HostState()
    )
    state.asked = frozenset(paths)
    _STATES[host.name] = state
    return state


def current() -> HostState:
    """This host's snapshot (an empty one, which knows nothing, before :func:`gather`)."""
    return _STATES.get(host.name, HostState())


# -- questions a step asks: the snapshot answers when it looked, pyinfra's facts otherwise --


def in_place(path: str, content: str) -> bool:
    """Whether the host's file at ``path`` already holds ``content`` (the snapshot, else
    pyinfra's sha1 fact)."""
    digest = hashlib.sha1(content.encode()).hexdigest()
    state = current()
    if state.knows(path):
        found = state.entry(path)
        return found is not None and found.kind == "f" and found.detail == digest
    return bool(host.get_fact(Sha1File, path=path) == digest)


def exists(path: str) -> bool:
    """Whether ``path`` is on the host (the snapshot, else pyinfra's fact)."""
    state = current()
    if state.knows(path):
        return state.entry(path) is not None
    return bool(host.get_fact(File, path=path))


def link_target(path: str) -> str | None:
    """Where the link at ``path`` points, if it is one (the snapshot, else pyinfra's fact)."""
    state = current()
    if state.knows(path):
        found = state.entry(path)
        return found.detail if found is not None and found.kind == "l" else None
    link = host.get_fact(Link, path=path)
    return str(link["link_target"]) if link else None


def directory(path: str, user: str, group: str, mode: str) -> OperationMeta | None:
    """A directory with its owner and mode; None when the host has it so."""
    if current().has_dir(path, user, group, mode):
        return None
    return files.directory(name=f"Directory {path}", path=path, user=user, group=group, mode=mode)


def running(ops: list[OperationMeta | None]) -> list[OperationMeta]:
    """The operations that were planned (steps answer None for what the host has already)."""
    return [op for op in ops if op is not None]
