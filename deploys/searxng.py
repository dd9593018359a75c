"""SearXNG: loopback only, JSON on; Debian's searx where the data names that substitute."""

from __future__ import annotations

import shlex

from pyinfra.api.deploy import deploy
from pyinfra.api.operation import OperationMeta
from pyinfra.operations import apt

from deploys.steps import Check, ServiceDeploy
from deploys.toolchain import Tools
from homelab.daemons import daemon_named
from homelab.model import Platform
from homelab.model.base import DebianPackage
from homelab.render import HostFile

#: Loads the settings and every engine they name the way SearXNG (and searx) does at start,
#: without serving. A bad key or type exits non-zero with searx's own message; an engine that
#: does not load is only logged and dropped by searx, so that is refused here.
LOAD_SETTINGS = """\
import sys
import searx
from searx import engines, settings
engines.load_engines(settings['engines'])
wanted = [e['name'] for e in settings['engines'] if not e.get('inactive')]
lost = [name for name in wanted if name not in engines.engines]
if lost:
    sys.exit('engines that did not load: ' + ', '.join(lost))
print(f'ok: settings load, {len(wanted)} engine(s)')
"""


class SearxngDeploy(ServiceDeploy):
    def install(self) -> None:
        super().install()
        source = self.daemon.source
        if self.daemon.enabled and isinstance(source, DebianPackage):
            op: OperationMeta = apt.packages(
                name=f"Debian package {source.package}", packages=[source.package]
            )
            self.changes.append(op)

    def check(self, f: HostFile) -> Check | None:
        d = self.daemon
        if f.path != d.config:
            return None
        variables = [k for k, v in d.environment.items() if v == d.config]
        debian = isinstance(d.source, DebianPackage)
        python = "/usr/bin/python3" if debian else f"{d.venv}/bin/python"
        where = d.working_dir or "/"
        return (
            f"cd {shlex.quote(where)} && {variables[0]}={{path}} {python} -c "
            f"{shlex.quote(LOAD_SETTINGS)} >&2"
        )


@deploy("SearXNG")
def deploy_searxng(platform: Platform, tools: Tools) -> None:
    SearxngDeploy(platform, daemon_named(platform, "mini", "searxng"), tools).run()
