"""Prometheus's node exporter on every host: the host's disks, memory, load, and the state and
restarts of the platform's daemons there (systemd's, read over D-Bus).

Debian's package on Linux, Homebrew's on macOS (the host's system picks); the platform's own
unit runs it, and Debian's is kept stopped. It listens on the LAN, where Prometheus reaches it,
and only Prometheus's hosts do: a Linux host's packet filter (its unit's nftables table) refuses
every other host. (systemd's own IP filter, IPAddressAllow, is not in effect in the lab's
containers, so the lab could not prove it; nftables it can. A Mac's exporter is not fenced:
driving pf is not built.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from homelab.model.base import Exposure, Listener, Name
from homelab.model.common import Service, SystemPackage
from homelab.services.base import Daemon, Relax, ServiceModule, common

if TYPE_CHECKING:
    from homelab.model.platform import Platform

PACKAGE = SystemPackage(
    debian="prometheus-node-exporter",
    debian_program="/usr/bin/prometheus-node-exporter",
    homebrew="node_exporter",
    homebrew_program="/opt/homebrew/bin/node_exporter",
    debian_unit="prometheus-node-exporter.service",
)


#: The name of the service that scrapes it (``homelab/services/monitoring.py`` takes it from
#: here: that module imports this one for its scrape targets, so this one cannot import it).
SCRAPER = "prometheus-server"


class NodeExporter(Service):
    kind: ClassVar[str] = "node_exporter"
    key: ClassVar[str] = "node_exporter"
    listener: Listener = Listener(
        port=9100, exposure=Exposure.LAN, lan_reason="Prometheus scrapes it from its own host"
    )
    user: Name = "node-exporter"
    package: SystemPackage = PACKAGE


class NodeExporterService(ServiceModule[NodeExporter]):
    name = "node-exporter"
    options = NodeExporter
    description = "Prometheus node exporter (the host and its daemons' units, for Prometheus)"

    def daemons(self, platform: Platform, host: str) -> tuple[Daemon, ...]:
        opts = self.on(platform, host)
        if opts is None:
            return ()
        h = platform.host(host)
        # The units it reports: every other daemon of the host the data turns on.
        units = tuple(
            d.unit
            for s in platform.modules(host)
            if s.name != self.name
            for d in s.daemons(platform, host)
            if d.enabled
        )
        # Prometheus's hosts scrape it; nothing else of the LAN needs it.
        scrapers = tuple(h for h, _ in platform.module(SCRAPER).placed(platform))
        daemon = Daemon(
            name=self.name,
            description=self.description,
            # Where services get no account of their own (macOS), the host's operator's.
            user=opts.user if h.os.service_accounts else (h.run_as or opts.user),
            argv=(
                h.os.program(opts.package),
                f"--web.listen-address={opts.listener.bind}:{opts.listener.port}",
                *h.os.init.unit_metrics_flags(units),
            ),
            listener=opts.listener,
            where=f"{host}.{self.key}.listener.port",
            health="/",
            enabled=opts.enabled,
            package=opts.package,
            reached_from=scrapers,
            relax={
                "ProcSubset": Relax(
                    "all", "its collectors read /proc/meminfo, /proc/stat, /proc/loadavg"
                ),
            },
            **common(platform, host),
        )
        return (daemon,)


SERVICE = NodeExporterService()
