"""How exposed each unit the project installs is, by systemd's own measure.

``systemd-analyze security UNIT`` scores a unit from 0 (locked down) to 10 (exposed); the
platform's rule is at most :data:`LIMIT` (systemd's SAFE or OK) for every unit. Read on the
hosts of an inventory, so what is scored is what was deployed. launchd has no such measure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from homelab.load import load_platform
from homelab.services import daemons

#: The largest exposure a unit may have (systemd calls 0-2.0 SAFE or OK).
LIMIT = 2.0

_OVERALL = re.compile(r"Overall exposure level for (\S+): (\d+(?:\.\d+)?) (\w+)")


@dataclass(frozen=True)
class Score:
    where: str  # role/unit
    exposure: float | None  # None: not scored (not installed, or not systemd)
    verdict: str

    @property
    def within(self) -> bool:
        return self.exposure is not None and self.exposure <= LIMIT

    def line(self) -> str:
        if self.exposure is None:
            return f"{self.where}: {self.verdict}"
        mark = "" if self.within else f"  (over the limit {LIMIT})"
        return f"{self.where}: {self.exposure:.1f} {self.verdict}{mark}"


def parse(where: str, output: str) -> Score:
    """The overall line of ``systemd-analyze security`` output."""
    found = _OVERALL.search(output)
    if not found:
        return Score(where, None, f"no score in the output: {output.strip()[-200:]!r}")
    return Score(where, float(found.group(2)), found.group(3))


def scores(inventory: Path | str) -> list[Score]:
    """Every unit of the data on the inventory's hosts, scored there."""
    from homelab.bridge import testinfra_hosts

    platform = load_platform(inventory)
    hosts = testinfra_hosts(inventory)
    out: list[Score] = []
    for host in platform.hosts:
        for daemon in daemons(platform, host):
            where = f"{host}/{daemon.unit}"
            command = daemon.system.init.security_command(daemon.unit)
            if command is None:
                out.append(Score(where, None, f"{daemon.system.init.name}: not scored"))
                continue
            result = hosts[host].run(command)
            out.append(parse(where, result.stdout + result.stderr))
    return out


def report(found: list[Score]) -> tuple[list[str], bool]:
    """The report's lines, and whether every scored unit is within the limit."""
    lines = [s.line() for s in found]
    scored = [s for s in found if s.exposure is not None]
    unscored = [s for s in found if s.exposure is None and not s.verdict.startswith("launchd")]
    if scored:
        worst = max(scored, key=lambda s: s.exposure or 0.0)
        ok = all(s.within for s in scored) and not unscored
        lines.append(
            f"largest: {worst.exposure:.1f} ({worst.where}); limit {LIMIT}: "
            f"{'met' if ok else 'NOT MET'}"
        )
        return lines, ok
    lines.append("no unit scored")
    return lines, False
