"""``homelab status``: is each host as the model says?

Per host, one shell script sent in one round trip (:func:`plan`) reads, for every daemon of
the model: whether its init system runs it (``systemctl show`` / ``launchctl print``), whether
it answers its health URL (curl on the host), its package's version (from its venv, or the
Debian package it comes as), and the sockets listening on its port (``ss`` / ``lsof``). It also
reads the drift: service files of the platform's naming and marker the data does not name, and
the sha256 of every file the model renders for the host, compared here with the rendered one.
(Legacy units active again are not checked yet.)
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from homelab import warm
from homelab.console.connect import Unreachable, connected
from homelab.console.probe import (
    MARK,
    expected_files,
    files_part,
    platform_marker,
    q,
    sections,
)
from homelab.load import load_platform
from homelab.model import Platform, ServiceModule, System
from homelab.model.service import Warmup
from homelab.render import HostFile
from homelab.services import Daemon, daemons, service_of

HEALTH_TIMEOUT = 5
#: Seconds the whole probe of a host may take (every health URL, then the rest).
SCRIPT_TIMEOUT = 120


def distribution(daemon: Daemon) -> str | None:
    """The distribution of a daemon's first requirement (``litellm[proxy]==1.2`` → ``litellm``)."""
    if not daemon.requirements:
        return None
    found = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", daemon.requirements[0])
    return found.group(1) if found else None


def version_command(platform: Platform, daemon: Daemon) -> str | None:
    """How the host tells the version its daemon runs: its service's say, else its venv's."""
    own = service_of(platform, daemon).version_command(daemon)
    if own is not None:
        return own
    dist = distribution(daemon)
    if dist is None:
        return None
    code = f"import importlib.metadata as m; print(m.version({dist!r}))"
    return f"{q(daemon.venv + '/bin/python')} -c {q(code)}"


@dataclass(frozen=True)
class Plan:
    """What status reads on one host, and what it expects there."""

    role: str
    system: System
    daemons: tuple[Daemon, ...]
    files: tuple[HostFile, ...]
    unit_dir: str
    unit_glob: str
    marker: str
    script: str
    #: The hand-built setup's units and jobs the data says were taken over.
    legacy: tuple[str, ...] = ()
    platform: Platform | None = None
    services: tuple[ServiceModule[Any], ...] = ()
    warmups: tuple[Warmup, ...] = ()

    @property
    def unit_paths(self) -> set[str]:
        return {p for d in self.daemons for p in d.unit_paths}


def plan(platform: Platform, role: str) -> Plan:
    """The probe of one host, from the model alone."""
    ds = daemons(platform, role)
    first = ds[0]
    system = platform.host(role).os
    files = tuple(expected_files(platform, role))
    marker = platform_marker(platform, first)
    naming = system.init.naming(first.layout)
    unit_dir, unit_glob = naming.directory, naming.pattern
    parts: list[str] = []
    for d in ds:
        parts.append(f"echo '{MARK} state {d.name}'\n{system.init.state_command(d.unit)}\n")
        if not d.enabled:
            continue
        parts.append(
            f"echo '{MARK} health {d.name}'\n"
            f"curl -s -o /dev/null -w '%{{http_code}}\\n' --max-time {HEALTH_TIMEOUT} "
            f"{q(d.health_url)}\n"
        )
        version = version_command(platform, d)
        if version:
            parts.append(f"echo '{MARK} version {d.name}'\n{version} 2>/dev/null\n")
    parts.append(f"echo '{MARK} listen'\n{system.listening}\n")
    parts.append(
        f"echo '{MARK} units'\ngrep -lF -- {q(marker)} {q(unit_dir)}/{unit_glob} 2>/dev/null\n"
    )
    parts.append(files_part([f.path for f in files], system))
    takeover = platform.host(role).takeover
    legacy = tuple(u.unit for u in takeover.units if not u.same_name) + tuple(
        j.label for j in takeover.launchd_jobs
    )
    for service in platform.modules(role):
        command = service.status_command(platform, role)
        if command is not None:
            parts.append(f"echo '{MARK} service {service.name}'\n{command}\n")
    warmups = platform.warmups(role)
    if warmups:
        parts.append(f"echo '{MARK} warm'\n{warm.command(platform, warmups)}\n")
    parts.append(f"echo '{MARK} legacy'\n")
    for name in legacy:
        parts.append(f"{system.init.running_command(name)} && echo {q(name)}\n")
    return Plan(
        role=role,
        system=system,
        daemons=ds,
        files=files,
        unit_dir=unit_dir,
        unit_glob=unit_glob,
        marker=marker,
        script="".join(parts) + "true\n",
        legacy=legacy,
        platform=platform,
        services=platform.modules(role),
        warmups=warmups,
    )


# --- reading the answer ----------------------------------------------------------------------


@dataclass(frozen=True)
class DaemonStatus:
    name: str
    enabled: bool
    state: str  # running, stopped, failed, ... as the init system says
    running: bool
    healthy: bool | None  # None: not asked (disabled)
    health: str  # the HTTP status, or what went wrong
    version: str | None
    bind: str  # the model's host:port
    listening: tuple[str, ...]

    @property
    def down(self) -> bool:
        return self.why_down is not None

    @property
    def bind_ok(self) -> bool:
        return not self.enabled or self.bind in self.listening

    @property
    def why_down(self) -> str | None:
        if not self.enabled:
            return None
        if not self.running:
            return f"{self.name} is not running ({self.state})"
        if not self.healthy:
            return f"{self.name} does not answer its health URL ({self.health})"
        return None

    @property
    def drift(self) -> list[str]:
        out: list[str] = []
        if not self.enabled and self.running:
            out.append(f"{self.name} runs though the data disables it")
        if self.enabled and self.running and not self.bind_ok:
            shown = ", ".join(self.listening) or "nothing"
            out.append(f"{self.name} should listen on {self.bind}; on its port: {shown}")
        return out


@dataclass
class HostStatus:
    role: str
    daemons: list[DaemonStatus] = field(default_factory=list)
    stray_units: list[str] = field(default_factory=list)
    changed_files: list[str] = field(default_factory=list)
    missing_files: list[str] = field(default_factory=list)
    legacy_running: list[str] = field(default_factory=list)
    #: What services report beyond their daemons (Alertmanager: the alerts firing).
    notes: list[str] = field(default_factory=list)

    @property
    def drift(self) -> list[str]:
        out = [f"{p}: the platform's kind of unit, not in the data" for p in self.stray_units]
        out += [
            f"{p}: differs from the model (see: homelab diff {self.role})"
            for p in self.changed_files
        ]
        out += [f"{p}: missing" for p in self.missing_files]
        out += [
            f"{u}: the hand-built setup's, taken over, is running again"
            for u in self.legacy_running
        ]
        out += [p for d in self.daemons for p in d.drift]
        return out

    @property
    def down(self) -> list[DaemonStatus]:
        return [d for d in self.daemons if d.down]

    @property
    def ok(self) -> bool:
        return not self.drift and not self.down


def read(p: Plan, output: str) -> HostStatus:
    """The host's status from the probe's output."""
    state: dict[str, list[str]] = {}
    health: dict[str, list[str]] = {}
    version: dict[str, list[str]] = {}
    listen: list[str] = []
    units: list[str] = []
    files: list[str] = []
    legacy: list[str] = []
    reports: dict[str, list[str]] = {}
    warmed: list[str] = []
    for kind, name, lines in sections(output):
        if kind == "service":
            reports[name] = lines
        {"state": state, "health": health, "version": version}.get(kind, {})[name] = lines
        if kind == "listen":
            listen = lines
        elif kind == "units":
            units = lines
        elif kind == "files":
            files = lines
        elif kind == "legacy":
            legacy = lines
        elif kind == "warm":
            warmed = lines
    sockets = p.system.read_listening(listen)
    out = HostStatus(p.role)
    for d in p.daemons:
        text, running = p.system.init.read_state(state.get(d.name, []))
        code = "".join(health.get(d.name, [])).strip()
        healthy = code.startswith("2") if d.enabled else None
        shown = code if code and code != "000" else "no answer"
        port = f":{d.listener.port}"
        found = version.get(d.name, [])
        out.daemons.append(
            DaemonStatus(
                name=d.name,
                enabled=d.enabled,
                state=text if (d.enabled or running) else "disabled",
                running=running,
                healthy=healthy,
                health=shown if d.enabled else "-",
                version=found[0].strip() if found and found[0].strip() else None,
                bind=f"{d.listener.bind}{port}",
                listening=tuple(a for a in sockets if a.endswith(port)),
            )
        )
    out.legacy_running = sorted({line.strip() for line in legacy} & set(p.legacy))
    for service in p.services:
        if service.name in reports and p.platform is not None:
            out.notes += service.status_lines(p.platform, p.role, reports[service.name])
    warm_found = warm.read(warmed)
    out.notes += [warm.describe(w, warm_found.get(w.daemon.name)) for w in p.warmups]
    known = p.unit_paths
    out.stray_units = sorted(u.strip() for u in units if u.strip() and u.strip() not in known)
    sums: dict[str, str | None] = {}
    for line in files:
        if line.startswith("- "):
            sums[line[2:]] = None
        elif line.strip():
            digest, _, path = line.partition("  ")
            sums[path] = digest
    for f in p.files:
        live = sums.get(f.path)
        if live is None:
            out.missing_files.append(f.path)
        elif live != hashlib.sha256(f.content.encode()).hexdigest():
            out.changed_files.append(f.path)
    return out


def table(status: HostStatus, title: str) -> list[str]:
    """A compact table of one host, then its drift."""
    rows = [("DAEMON", "STATE", "HEALTH", "VERSION", "BIND")]
    for d in status.daemons:
        health = "-" if d.healthy is None else ("ok" if d.healthy else d.health)
        bind = d.bind if d.bind_ok or not d.running else f"{d.bind} (not listening)"
        rows.append((d.name, d.state, health, d.version or "-", bind))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [title]
    for r in rows:
        lines.append("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    lines.extend(f"  down: {d.why_down}" for d in status.down)
    lines.extend(f"  drift: {p}" for p in status.drift)
    lines.extend(f"  {note}" for note in status.notes)
    if status.ok:
        lines.append("  as the model says")
    return lines


def check(inventory: Path | str) -> tuple[list[str], bool]:
    """Every host of the inventory: the report's lines, and whether all is as the model says."""
    platform = load_platform(inventory)
    lines: list[str] = []
    ok = True
    with connected(inventory) as remotes:
        for role, remote in remotes.items():
            p = plan(platform, role)
            done = remote.run(p.script, timeout=SCRIPT_TIMEOUT)
            if not done.ok:
                raise Unreachable(f"{role}: the status probe failed: {done.stderr.strip()}")
            found = read(p, done.stdout)
            lines += table(found, f"{role} ({platform.addresses[role]})")
            why = platform.in_maintenance().get(role)
            if why is not None:
                lines.append(f"  maintenance: out of the gateway's rotation ({why})")
            ok = ok and found.ok
    return lines, ok
