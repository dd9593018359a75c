"""Taking over a hand-built host, as the operator sees it: what a first deploy replaces, and
the way back (the commands that put the legacy units in charge again).

The deploy side is ``deploys/takeover.py``; both read the host's ``takeover`` in the group data.
"""

from __future__ import annotations

import shlex

from homelab.model import Platform
from homelab.model.takeover import SAVED_SUFFIX
from homelab.services import daemons


def summary(platform: Platform, role: str) -> str:
    """One line: what a first deploy of ``role`` takes over (``homelab check`` prints it)."""
    takeover = platform.host(role).takeover
    if takeover.empty:
        return f"takeover {role}: nothing"
    parts: list[str] = []
    for unit in takeover.units:
        how = "same name: its file kept as .legacy" if unit.same_name else "stop, disable"
        parts.append(f"{unit.unit} -> {', '.join(unit.replaced_by)} ({how})")
    for job in takeover.launchd_jobs:
        parts.append(f"{job.label} -> {', '.join(job.replaced_by)} (launchd: bootout, disable)")
    if takeover.open_webui_data:
        parts.append(f"Open WebUI data {takeover.open_webui_data} (backed up, imported once)")
    return f"takeover {role}: " + "; ".join(parts)


def way_back(platform: Platform, role: str) -> list[str]:
    """Shell commands, run as root on the host, that stop the platform's daemons which replaced
    legacy ones and put the legacy units (jobs) back in charge, as they were before the first
    deploy. Legacy files were never deleted; a same-name unit's file comes back from
    ``.legacy``. The next deploy takes over again."""
    takeover = platform.host(role).takeover
    q = shlex.quote
    commands: list[str] = []
    # A host's legacy jobs are of its own init system (the data's rules): launchd's jobs on a
    # Mac, systemd's units elsewhere; one line each, doing nothing where it never was.
    for job in takeover.launchd_jobs:
        ours = [d for d in daemons(platform, role) if d.name in job.replaced_by]
        out = " && ".join(
            f"{{ launchctl bootout system/{q(d.unit)} 2>/dev/null || true; }} && "
            f"launchctl disable system/{q(d.unit)}"
            for d in ours
        )
        commands.append(
            f"if [ -e {q(job.plist)} ]; then {out} && launchctl enable "
            f"system/{q(job.label)} && launchctl bootstrap system {q(job.plist)}; fi"
        )
    for unit in takeover.units:
        ours = [d for d in daemons(platform, role) if d.name in unit.replaced_by]
        if unit.same_name:
            path = next(d.unit_path for d in ours if d.unit == unit.unit)
            saved = q(path + SAVED_SUFFIX)
            commands.append(
                f"if [ -e {saved} ]; then systemctl stop {q(unit.unit)} && "
                f"cp -p {saved} {q(path)} && systemctl daemon-reload && "
                f"systemctl enable {q(unit.unit)} && systemctl start {q(unit.unit)}; fi"
            )
        else:
            # A socket unit holds its daemon's port: it goes too, or the legacy unit cannot bind.
            sockets = [d.socket_unit for d in ours if d.socket_path]
            names = " ".join(q(u) for u in [*(d.unit for d in ours), *sockets])
            commands.append(
                f"if systemctl cat {q(unit.unit)} >/dev/null 2>&1; then "
                f"systemctl disable --now {names} && systemctl enable --now {q(unit.unit)}; fi"
            )
    return commands
