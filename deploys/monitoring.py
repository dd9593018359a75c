"""Prometheus, Alertmanager and the blackbox exporter: each file checked by the package's own
checker as a candidate before it replaces the live one."""

from __future__ import annotations

from deploys.files import Check
from deploys.service import Deployer, ServiceDeploy, deploys
from homelab.render import HostFile
from homelab.services.monitoring import (
    AMTOOL,
    BLACKBOX,
    PROMTOOL,
    MonitoringService,
)


class MonitoringDeploy(ServiceDeploy):
    service: MonitoringService

    def check(self, f: HostFile) -> Check | None:
        d, s = self.daemon, self.service
        if f.path == s.rules_path(self.platform, d.host):
            return f"{PROMTOOL} check rules {{path}} >&2"
        if f.path == s.config_path(self.platform, d.host):
            # --syntax-only: the gateway's key, a credential file, exists only while Prometheus
            # runs; the rules it names are checked on their own, just before.
            return f"{PROMTOOL} check config --syntax-only {{path}} >&2"
        if f.path == s.alertmanager_config(self.platform, d.host):
            return f"{AMTOOL} check-config {{path}} >&2"
        if f.path == s.blackbox_config(self.platform, d.host):
            return f"{d.system.program(BLACKBOX)} --config.check --config.file={{path}} >&2"
        return None


@deploys(MonitoringService)
class MonitoringDeployer(Deployer):
    title = "Monitoring (Prometheus, Alertmanager, blackbox exporter)"
    daemon_deploy = MonitoringDeploy
