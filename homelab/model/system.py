"""A host's operating system and its init system, as objects: the one place that knows how a
Linux host with systemd differs from a macOS host with launchd.

Nothing else asks which system a host runs: it asks the host's :class:`System` (its userland's
commands, its root group) or its :class:`InitSystem` (where units live, what they are named,
how one is told from the host's own, the commands that report and change their state).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import Literal

from homelab.model.common import Layout, SystemPackage, Toolchain

#: The systems a host may state in its data.
SystemName = Literal["linux", "macos"]

#: The line every systemd unit the platform renders carries. Its units have no name prefix of
#: their own (``litellm.service``), so this line is how a deploy and the verify suite tell them
#: from the host's own units. Plists need none: their label's prefix is the platform's.
UNIT_MARK = "rendered from the platform model; edits here are overwritten by the deploy."


@dataclass(frozen=True)
class UnitNaming:
    """Where a host keeps the platform's units or plists, and how to tell them from others."""

    directory: str
    #: A ``find -name`` pattern every one of them matches.
    pattern: str
    #: A line each one holds, when the name alone does not tell (systemd); None: it does.
    mark: str | None

    def name_of(self, path: str) -> str:
        """The unit (``x.service``) or label (``com.homelab-llm.x``) a file at ``path`` loads."""
        base = path.rsplit("/", 1)[-1]
        return base.removesuffix(".plist") if self.mark is None else base


@dataclass(frozen=True)
class InitSystem:
    """What runs the platform's daemons on a host: systemd or launchd."""

    name: Literal["systemd", "launchd"]
    #: Whether it holds a listening socket for a daemon (systemd's ``.socket`` units).
    holds_sockets: bool
    #: Its kind of legacy job in a host's takeover data (``units`` or ``launchd_jobs``).
    legacy_field: Literal["units", "launchd_jobs"]
    #: Whether a daemon's output goes to files its job names (launchd), not to a journal.
    logs_to_files: bool

    def unit_dir(self, layout: Layout) -> str:
        return layout.systemd_units if self.name == "systemd" else layout.launchd_daemons

    def unit_id(self, layout: Layout, name: str) -> str:
        """How the init system names a daemon: ``name.service``, or a label with the prefix."""
        return f"{name}.service" if self.name == "systemd" else f"{layout.launchd_prefix}.{name}"

    def unit_path(self, layout: Layout, name: str) -> str:
        suffix = "" if self.name == "systemd" else ".plist"
        return f"{self.unit_dir(layout)}/{self.unit_id(layout, name)}{suffix}"

    def naming(self, layout: Layout) -> UnitNaming:
        """The platform's naming rule for units on a host: what it installed, without a manifest."""
        if self.name == "launchd":
            return UnitNaming(layout.launchd_daemons, f"{layout.launchd_prefix}.*.plist", None)
        return UnitNaming(layout.systemd_units, "*.service", UNIT_MARK)

    # -- what it reports, one round trip (homelab status) ----------------------------------

    def state_command(self, unit: str) -> str:
        """A command printing one daemon's state, for :meth:`read_state`."""
        if self.name == "launchd":
            return (
                f"launchctl print {shlex.quote('system/' + unit)} 2>&1 "
                "| grep -E '^\\s*(state|pid) ='"
            )
        props = " ".join(f"-p {p}" for p in UNIT_PROPERTIES)
        return f"systemctl show {props} -- {shlex.quote(unit)}"

    def read_state(self, lines: list[str]) -> tuple[str, bool]:
        """(what its state is, in words; whether it runs) from :meth:`state_command`'s lines."""
        props = dict(line.strip().split("=", 1) for line in lines if "=" in line)
        props = {k.strip(): v.strip() for k, v in props.items()}
        if self.name == "launchd":
            state = props.get("state", "not loaded")
            return state, state == "running"
        if props.get("LoadState") == "not-found":
            return "not installed", False
        active, sub = props.get("ActiveState", "?"), props.get("SubState", "?")
        running = active == "active" and sub == "running"
        return ("running" if running else f"{active}/{sub}"), running

    def unit_metrics_flags(self, units: tuple[str, ...]) -> tuple[str, ...]:
        """node_exporter's flags reporting these daemons' state and restarts, where its
        collector reads them from the init system (systemd's, over D-Bus); launchd has none."""
        if self.name == "launchd" or not units:
            return ()
        names = "|".join(re.escape(u) for u in units)
        return (
            "--collector.systemd",
            "--collector.systemd.enable-restarts-metrics",
            f"--collector.systemd.unit-include=^({names})$",
        )

    def running_command(self, unit: str) -> str:
        """A command that succeeds when ``unit`` (a unit, or a launchd label) runs."""
        if self.name == "launchd":
            return f"launchctl print system/{shlex.quote(unit)} >/dev/null 2>&1"
        return f"systemctl is-active -q {shlex.quote(unit)}"

    def instance_command(self, unit: str) -> str:
        """A command printing what names the running start of ``unit``, new at each start:
        systemd's invocation id, launchd's pid."""
        if self.name == "launchd":
            return (
                f"launchctl print system/{shlex.quote(unit)} 2>/dev/null "
                "| awk '$1 == \"pid\" {print $3}'"
            )
        return f"systemctl show -p InvocationID --value -- {shlex.quote(unit)}"

    @property
    def counts_own_restarts(self) -> bool:
        """Whether its restart count is of the restarts it made by itself (systemd's
        NRestarts); launchd counts every launch, a deploy's included."""
        return self.name == "systemd"

    @property
    def reloads(self) -> bool:
        """Whether it reloads a daemon in place (``systemctl reload``); launchd only restarts."""
        return self.name == "systemd"

    def restart_chosen(self, chosen: list[tuple[str, str]], reload: bool = False) -> str:
        """Shell restarting (or reloading) each ``(test, unit)`` whose shell test succeeds, the
        ones systemd runs all at once."""
        if self.name == "launchd":
            return " && ".join(
                f"{{ ! {test} || launchctl kickstart -k system/{unit}; }}" for test, unit in chosen
            )
        verb = "reload" if reload else "try-restart"
        units = " ".join(f"$({test} && echo {unit} || true)" for test, unit in chosen)
        return f'units="{units}"; [ -z "$(echo $units)" ] || systemctl {verb} $units'

    def security_command(self, unit: str) -> str | None:
        """A command scoring a unit's exposure (systemd's); None where the init has none."""
        if self.name == "launchd":
            return None
        return f"systemd-analyze security --no-pager {shlex.quote(unit)}"

    def logs_command(self, unit: str, files: list[str], lines: int, follow: bool) -> str:
        """The last ``lines`` lines of a daemon's log (journald's, or the files launchd writes)."""
        more = " -f" if follow else ""
        if self.name == "launchd":
            return f"tail -n {lines}{more} {' '.join(shlex.quote(f) for f in files)}"
        return f"journalctl --no-pager -u {shlex.quote(unit)} -n {lines}{more}"


#: systemd properties read for each unit.
UNIT_PROPERTIES = ("LoadState", "ActiveState", "SubState", "UnitFileState", "MainPID")

SYSTEMD = InitSystem(name="systemd", holds_sockets=True, legacy_field="units", logs_to_files=False)
LAUNCHD = InitSystem(
    name="launchd", holds_sockets=False, legacy_field="launchd_jobs", logs_to_files=True
)


@dataclass(frozen=True)
class System:
    """A host's operating system: its init system and the userland commands that differ."""

    name: SystemName
    init: InitSystem
    #: The group root's files belong to.
    root_group: str
    #: The group a model server's files belong to when its account's own group is not wanted.
    staff_group: str | None
    #: A command printing ``<sha256>  <path>`` lines for its arguments.
    sha256: str
    #: A command listing listening TCP sockets, one line each.
    listening: str
    #: The secrets folder's mode: 0711 where each service reads its own env file again at a
    #: reload through it (systemd's reloads), 0700 where only root reads them (launchd's shell).
    secrets_dir_mode: str
    #: How a host of this system builds virtualenvs unless its data says otherwise.
    toolchain: Toolchain
    #: A shell command printing the total bytes of the files ``{files}`` (a shell glob).
    total_bytes: str
    #: Whether each service runs as a system account of its own, made by the deploy (Linux);
    #: else its daemons run as the account the host's data names (``run_as``), which exists.
    service_accounts: bool
    #: Whether its userland answers the deploy's one-round-trip snapshot (GNU stat, sha1sum,
    #: getent, systemctl); else the deploy asks pyinfra's facts one at a time.
    snapshot: bool
    #: Its package manager: Debian's apt, or Homebrew.
    packages: Literal["apt", "homebrew"] = "apt"
    #: A command prefix running what follows as the account ``{user}`` (from root).
    as_user: str = "runuser -u {user} --"
    #: The packet filter that fences a daemon's port to the hosts that may reach it (Linux:
    #: nftables); None: this system's daemons are not fenced (macOS's pf is not driven yet).
    firewall: SystemPackage | None = None

    def package(self, pkg: SystemPackage) -> str | None:
        """The package (or formula) that installs ``pkg`` here; None: none does."""
        return pkg.debian if self.packages == "apt" else pkg.homebrew

    def program(self, pkg: SystemPackage) -> str:
        """Where ``pkg``'s program is once installed here."""
        found = pkg.debian_program if self.packages == "apt" else pkg.homebrew_program
        if found is None:
            raise LookupError(f"{pkg.debian} has no {self.packages} package on {self.name}")
        return found

    def read_listening(self, lines: list[str]) -> list[str]:
        """Local addresses of listening TCP sockets (``0.0.0.0:3000``, ``[::1]:8100``) from
        :attr:`listening`'s lines."""
        out: list[str] = []
        for line in lines:
            cols = line.split()
            if self.name == "macos":  # lsof: NAME is the last but one column, then (LISTEN)
                if len(cols) >= 9 and cols[-1] == "(LISTEN)":
                    out.append(cols[-2])
            elif len(cols) >= 4:  # ss: the local address is the fourth column
                out.append(cols[3])
        return [("0.0.0.0" + a[1:]) if a.startswith("*:") else a for a in out]


LINUX = System(
    name="linux",
    init=SYSTEMD,
    root_group="root",
    staff_group=None,
    sha256="sha256sum",
    listening="ss -Hltn",
    secrets_dir_mode="0711",
    toolchain=Toolchain(),
    total_bytes="du -cb {files} 2>/dev/null | tail -n1 | cut -f1",
    service_accounts=True,
    snapshot=True,
    firewall=SystemPackage(debian="nftables", debian_program="/usr/sbin/nft"),
)
MACOS = System(
    name="macos",
    init=LAUNCHD,
    root_group="wheel",
    staff_group="staff",
    sha256="shasum -a 256",
    listening="lsof -nP -iTCP -sTCP:LISTEN",
    as_user="sudo -u {user} --",
    secrets_dir_mode="0700",
    # Homebrew's Python on Apple silicon; wheels for the macOS release the hosts run.
    toolchain=Toolchain(
        python="/opt/homebrew/bin/python3.11",
        platform="aarch64-apple-darwin",
        find_links=(),
        macos_version="15.0",
    ),
    # BSD du has no byte counts: stat gives each file's size.
    total_bytes="stat -f %z {files} 2>/dev/null | awk '{{s+=$1}} END {{print s+0}}'",
    service_accounts=False,
    snapshot=False,
    packages="homebrew",
)
SYSTEMS: dict[SystemName, System] = {"linux": LINUX, "macos": MACOS}
