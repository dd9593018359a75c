"""SearXNG in the lab: Debian's ``searx`` 1.1.0, its predecessor, the closest a registry has.

It takes a complete settings file (no defaults to merge with), reads it from
``SEARX_SETTINGS_PATH`` and its secret from ``SEARX_SECRET``, and runs as ``searx-run``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from pyinfra.operations import apt

from deploys.searxng import SearxngDeploy, SearxngDeployer
from deploys.service import deploys
from deploys.state import current
from homelab.lab.substitutes.templates import render_lab
from homelab.services.base import Daemon
from homelab.services.searxng import SearxngService

if TYPE_CHECKING:
    from homelab.model.platform import Platform

#: Debian's package, and the program it runs.
PACKAGE = "searx"
PROGRAM = "/usr/bin/searx-run"
#: searx is a Python package of Debian's own Python.
PYTHON = "/usr/bin/python3"


class SearxFromDebian(SearxngService):
    description = f"{SearxngService.description}, as Debian's {PACKAGE}"
    settings_variable = "SEARX_SETTINGS_PATH"
    secret_variable = "SEARX_SECRET"

    def python(self, daemon: Daemon) -> str:
        return PYTHON

    def version_command(self, daemon: Daemon) -> str | None:
        return f"dpkg-query -W -f='${{Version}}\\n' {PACKAGE}"

    def daemons(self, platform: Platform, host: str) -> tuple[Daemon, ...]:
        return tuple(
            replace(d, argv=(PROGRAM,), source=None, requirements=(), working_dir=None)
            for d in super().daemons(platform, host)
        )

    def settings(self, platform: Platform, host: str) -> str:
        sx = self.on(platform, host)
        assert sx is not None
        return render_lab("searx-settings.yml.j2", searxng=sx, listener=sx.listener)


class SearxDeploy(SearxngDeploy):
    def install(self) -> None:
        super().install()
        if self.daemon.enabled and PACKAGE not in current().packages:
            self.changes.append(apt.packages(name=f"Debian package {PACKAGE}", packages=[PACKAGE]))


@deploys(SearxFromDebian)
class SearxDeployer(SearxngDeployer):
    title = "SearXNG (Debian's searx)"
    daemon_deploy = SearxDeploy
