"""SearXNG: loopback only, JSON on; its settings loaded with every engine before they go live."""

from __future__ import annotations

import shlex

from deploys.files import Check
from deploys.service import Deployer, ServiceDeploy, deploys
from homelab.render import HostFile
from homelab.services.searxng import SearxngService

#: Loads the settings and every engine they name the way SearXNG does at start,
#: without serving. A bad key or type exits non-zero with its own message; an engine that
#: does not load is only logged and dropped at start, so that is refused here.
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
    service: SearxngService

    def check(self, f: HostFile) -> Check | None:
        d = self.daemon
        if f.path != d.config:
            return None
        where = d.working_dir or "/"
        return (
            f"cd {shlex.quote(where)} && {self.service.settings_variable}={{path}} "
            f"{self.service.python(d)} -c {shlex.quote(LOAD_SETTINGS)} >&2"
        )


@deploys(SearxngService)
class SearxngDeployer(Deployer):
    title = "SearXNG"
    daemon_deploy = SearxngDeploy
