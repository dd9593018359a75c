"""launchd plists written by plistlib: every key read back as the daemon describes it."""

from __future__ import annotations

import dataclasses
import plistlib

from homelab.model import Platform
from homelab.render.units import THROTTLE_INTERVAL, launchd_argv, launchd_plist
from homelab.services import daemons


def test_plist_reads_back_as_the_daemon(platform: Platform) -> None:
    studio = daemons(platform, "studio")
    odd = dataclasses.replace(
        studio[0],
        environment={"Z_LAST": "1", "A_ODD": "a & b <c> \"d\" 'e' é"},
        working_dir="/var/lib/x & y",
        enabled=False,
    )
    for d in (*studio, odd):
        f = launchd_plist(d)
        job = plistlib.loads(f.content.encode())
        log = f"{d.layout.logs}/{d.name}.log"
        expected: dict[str, object] = {
            "Label": d.unit,
            "ProgramArguments": list(launchd_argv(d)),
            "UserName": d.user,
            "RunAtLoad": True,
            "KeepAlive": True,
            "ThrottleInterval": THROTTLE_INTERVAL,
            "Disabled": not d.enabled,
            "StandardOutPath": log,
            "StandardErrorPath": log,
        }
        if d.working_dir:
            expected["WorkingDirectory"] = d.working_dir
        if d.environment:
            expected["EnvironmentVariables"] = d.environment
        assert job == expected, d.name
        assert f.path == d.unit_path and (f.owner, f.group) == ("root", "wheel")
        assert f"<!-- {d.unit}: rendered from the platform model" in f.content
