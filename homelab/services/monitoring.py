"""Monitoring on the gateway's host: Prometheus, its alert rules, Alertmanager and the blackbox
exporter, all Debian's packages run by the platform's own units (Debian's are kept stopped).

Everything they read is derived from the platform: Prometheus scrapes every host's node
exporter, probes every daemon's health URL it can reach and one real chat per alias and per
backend family (the blackbox exporter, at a slow interval); its rules name each daemon and
host; Alertmanager sends to the receivers the data names. Each file is checked by the
package's own checker (promtool, amtool, the exporter's ``--config.check``) before it
replaces the live one (``deploys/monitoring.py``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Self

import yaml
from pydantic import Field, model_validator

from homelab.model.base import LOOPBACK, Frozen, Listener, Name
from homelab.model.common import Service, SystemPackage
from homelab.render.files import HostFile
from homelab.services.base import Daemon, ServiceModule, common
from homelab.services.monitoring_board import board_html
from homelab.services.node_exporter import SCRAPER
from homelab.services.node_exporter import SERVICE as NODE

if TYPE_CHECKING:
    from homelab.model.platform import Platform

#: A Prometheus duration: 30s, 2m, 4h, 15d.
Duration = str
_DURATION = r"^[0-9]+(ms|s|m|h|d|w|y)$"

PROMETHEUS = SystemPackage(
    debian="prometheus", debian_program="/usr/bin/prometheus", debian_unit="prometheus.service"
)
ALERTMANAGER = SystemPackage(
    debian="prometheus-alertmanager",
    debian_program="/usr/bin/prometheus-alertmanager",
    debian_unit="prometheus-alertmanager.service",
)
BLACKBOX = SystemPackage(
    debian="prometheus-blackbox-exporter",
    debian_program="/usr/bin/prometheus-blackbox-exporter",
    debian_unit="prometheus-blackbox-exporter.service",
)
#: The checkers Debian ships with the packages.
PROMTOOL = "/usr/bin/promtool"
AMTOOL = "/usr/bin/amtool"
#: The board's page under Prometheus's /consoles/.
BOARD = "board.html"

#: The gateway's key, handed to the exporter that sends chats through it (a credential file).
GATEWAY_KEY = "gateway-key"


class Thresholds(Frozen):
    """When an alert fires."""

    down_for: Duration = Field(
        default="2m",
        pattern=_DURATION,
        description="how long a daemon is down, its health failing or a host unreachable "
        "before the alert fires",
    )
    restarts: int = Field(
        default=3, ge=1, description="restarts of one daemon within restart_window that alert"
    )
    restart_window: Duration = Field(default="10m", pattern=_DURATION)
    disk_percent: float = Field(
        default=90, gt=0, lt=100, description="a weights volume fuller than this alerts"
    )
    chat_failing_for: Duration = Field(
        default="10m", pattern=_DURATION, description="how long a chat probe fails to alert"
    )
    gateway_error_ratio: float = Field(
        default=0.05, gt=0, le=1, description="failed / all requests at the gateway over 5 min"
    )
    gateway_p95_seconds: float = Field(
        default=60, gt=0, description="the gateway's 95th percentile request time over 5 min"
    )


class Receivers(Frozen):
    """Where Alertmanager sends alerts: any of a webhook, an ntfy topic, a mail address."""

    webhook: str | None = Field(
        default=None, pattern=r"^https?://", description="a URL Alertmanager POSTs alerts to"
    )
    ntfy: str | None = Field(
        default=None,
        pattern=r"^https?://",
        description="an ntfy topic's URL (ntfy publishes each POST's body to the topic)",
    )
    email: str | None = Field(
        default=None,
        pattern=r"^[^@\s]+@[^@\s]+$",
        description="a mail address, sent through the host's MTA",
    )
    email_from: str = Field(default="alertmanager@localhost", pattern=r"^[^@\s]+@[^@\s]+$")
    smarthost: str = Field(
        default="localhost:25", description="the MTA Alertmanager hands mail to (host:port)"
    )


class Monitoring(Service):
    kind: ClassVar[str] = "monitoring"
    key: ClassVar[str] = "monitoring"
    listener: Listener = Listener(port=9090)
    user: Name = "prometheus-server"
    alertmanager: Listener = Listener(port=9093)
    alertmanager_user: Name = "alertmanager"
    blackbox: Listener = Listener(port=9115)
    blackbox_user: Name = "blackbox"
    retention: Duration = Field(default="30d", pattern=_DURATION, description="TSDB retention")
    scrape_interval: Duration = Field(default="15s", pattern=_DURATION)
    probe_timeout: Duration = Field(
        default="5s",
        pattern=_DURATION,
        description="a health URL silent this long fails its probe (a hung server accepts "
        "connections and never answers)",
    )
    chat_interval: Duration = Field(
        default="5m", pattern=_DURATION, description="how often one real chat per alias is sent"
    )
    chat_timeout: Duration = Field(default="60s", pattern=_DURATION)
    thresholds: Thresholds = Thresholds()
    receivers: Receivers = Receivers()
    group_wait: Duration = Field(default="30s", pattern=_DURATION)
    group_interval: Duration = Field(default="5m", pattern=_DURATION)
    repeat_interval: Duration = Field(default="4h", pattern=_DURATION)

    @model_validator(mode="after")
    def _timeouts(self) -> Self:
        if seconds(self.probe_timeout) >= seconds(self.scrape_interval):
            raise ValueError(
                f"probe_timeout: {self.probe_timeout} is not below scrape_interval "
                f"{self.scrape_interval} (rule: a probe ends before the next one starts)"
            )
        if seconds(self.chat_timeout) >= seconds(self.chat_interval):
            raise ValueError(
                f"chat_timeout: {self.chat_timeout} is not below chat_interval "
                f"{self.chat_interval} (rule: a probe ends before the next one starts)"
            )
        return self


_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def seconds(duration: Duration) -> float:
    found = re.match(r"^([0-9]+)(ms|s|m|h|d|w|y)$", duration)
    assert found is not None, duration
    return int(found[1]) * _UNITS[found[2]]


@dataclass(frozen=True)
class HealthTarget:
    """One daemon's health URL as Prometheus's host reaches it."""

    host: str
    daemon: str
    url: str


@dataclass(frozen=True)
class ChatTarget:
    """One model name the chat probe sends a real chat to."""

    name: str
    kind: str  # "alias" or the backend family

    @property
    def module(self) -> str:
        return "chat_" + re.sub(r"[^a-zA-Z0-9_]", "_", self.name)


class _Plain(yaml.SafeDumper):
    """YAML without anchors: each repeated block written out where it is used."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


@dataclass(frozen=True)
class Watched:
    """One thing a Prometheus scrapes, as its series are labelled: what the checks ask for."""

    #: The host Prometheus runs on.
    prometheus: str
    job: str
    labels: tuple[tuple[str, str], ...]
    #: Whether it is a blackbox probe: its scrape succeeds even when the probe fails.
    probe: bool

    @property
    def id(self) -> str:
        return f"{self.job}:" + ",".join(v for _, v in self.labels)

    @property
    def selector(self) -> str:
        inner = ",".join([f'job="{self.job}"', *(f'{k}="{v}"' for k, v in self.labels)])
        return "{" + inner + "}"


def _dump(header: str, data: Any) -> str:
    body = yaml.dump(data, Dumper=_Plain, sort_keys=False, default_flow_style=False, width=100)
    return f"# {header}: rendered from the platform model; edits are overwritten.\n{body}"


class MonitoringService(ServiceModule[Monitoring]):
    name = SCRAPER
    options = Monitoring
    description = "Prometheus (scrapes, probes and alert rules derived from the platform)"
    systems = frozenset({"linux"})
    systems_why = "Debian's Prometheus, Alertmanager and blackbox exporter"
    alertmanager_name = "alertmanager"
    blackbox_name = "blackbox-exporter"

    def prometheus_hosts(self, platform: Platform) -> list[str]:
        return [host for host, _ in self.placed(platform)]

    def options_on(self, platform: Platform, host: str) -> Monitoring:
        opts = self.on(platform, host)
        assert opts is not None
        return opts

    # -- paths -------------------------------------------------------------------------

    def config_path(self, platform: Platform, host: str) -> str:
        return f"{platform.host(host).layout.config_dir(self.name)}/prometheus.yml"

    def rules_path(self, platform: Platform, host: str) -> str:
        return f"{platform.host(host).layout.config_dir(self.name)}/rules.yml"

    def consoles_dir(self, platform: Platform, host: str) -> str:
        return f"{platform.host(host).layout.config_dir(self.name)}/consoles"

    def alertmanager_config(self, platform: Platform, host: str) -> str:
        return f"{platform.host(host).layout.config_dir(self.alertmanager_name)}/alertmanager.yml"

    def blackbox_config(self, platform: Platform, host: str) -> str:
        return f"{platform.host(host).layout.config_dir(self.blackbox_name)}/blackbox.yml"

    # -- daemons -----------------------------------------------------------------------

    def daemons(self, platform: Platform, host: str) -> tuple[Daemon, ...]:
        opts = self.on(platform, host)
        if opts is None:
            return ()
        lay = platform.host(host).layout
        os = platform.host(host).os
        # Both read the gateway's key and call it: after it at a boot, and restarted after it
        # when its key changes (a rotation, a restore).
        after_gateway = (os.init.unit_id(lay, self._gateway_name()),)
        prom = Daemon(
            name=self.name,
            description=self.description,
            user=opts.user,
            argv=(
                os.program(PROMETHEUS),
                f"--config.file={self.config_path(platform, host)}",
                f"--storage.tsdb.path={lay.state_dir(self.name)}",
                f"--storage.tsdb.retention.time={opts.retention}",
                f"--web.listen-address={opts.listener.bind}:{opts.listener.port}",
                # The board (/consoles/board.html) is self-contained: no console libraries.
                f"--web.console.templates={self.consoles_dir(platform, host)}",
            ),
            listener=opts.listener,
            where=f"{host}.{self.key}.listener.port",
            health="/-/healthy",
            enabled=opts.enabled,
            package=PROMETHEUS,
            config=self.config_path(platform, host),
            credentials={GATEWAY_KEY: self._gateway_key_file(platform)},
            after=after_gateway,
            # New targets (a model added) and rules are read again at SIGHUP: no restart, no
            # gap in the scrapes, and the deploy's other work keeps the cores.
            **self._reads_at_sighup(
                self.config_path(platform, host), self.rules_path(platform, host)
            ),
            **common(platform, host),
        )
        alerts = Daemon(
            name=self.alertmanager_name,
            description="Alertmanager (routes the platform's alerts to the operator)",
            user=opts.alertmanager_user,
            argv=(
                os.program(ALERTMANAGER),
                f"--config.file={self.alertmanager_config(platform, host)}",
                f"--storage.path={lay.state_dir(self.alertmanager_name)}",
                f"--web.listen-address={opts.alertmanager.bind}:{opts.alertmanager.port}",
                # One Alertmanager: no gossip port to peers.
                "--cluster.listen-address=",
            ),
            listener=opts.alertmanager,
            where=f"{host}.{self.key}.alertmanager.port",
            health="/-/healthy",
            enabled=opts.enabled,
            package=ALERTMANAGER,
            config=self.alertmanager_config(platform, host),
            **self._reads_at_sighup(self.alertmanager_config(platform, host)),
            **common(platform, host),
        )
        probes = Daemon(
            name=self.blackbox_name,
            description="Blackbox exporter (probes health URLs and chats for Prometheus)",
            user=opts.blackbox_user,
            argv=(
                os.program(BLACKBOX),
                f"--config.file={self.blackbox_config(platform, host)}",
                f"--web.listen-address={opts.blackbox.bind}:{opts.blackbox.port}",
            ),
            listener=opts.blackbox,
            where=f"{host}.{self.key}.blackbox.port",
            health="/-/healthy",
            enabled=opts.enabled,
            package=BLACKBOX,
            config=self.blackbox_config(platform, host),
            credentials={GATEWAY_KEY: self._gateway_key_file(platform)},
            after=after_gateway,
            **self._reads_at_sighup(self.blackbox_config(platform, host)),
            **common(platform, host),
        )
        return (prom, alerts, probes)

    @staticmethod
    def _reads_at_sighup(*files: str) -> dict[str, Any]:
        """Prometheus, Alertmanager and the blackbox exporter read their config files again at
        SIGHUP, in place: a deploy that changes only those reloads them."""
        return {"reloadable": True, "reload_files": files, "workers": 0}

    def _gateway_name(self) -> str:
        from homelab.services.litellm import SERVICE as LITELLM

        return LITELLM.name

    def _gateway_key_file(self, platform: Platform) -> str:
        from homelab.services.litellm import gateway_host

        layout = platform.host(gateway_host(platform)).layout
        return layout.secret_file(platform.gateway.proxy_key.env)

    def placement_problems(self, platform: Platform) -> list[str]:
        from homelab.services.litellm import on_gateway_host

        return on_gateway_host(
            platform,
            Monitoring,
            "Prometheus probes the gateway's loopback daemons and reads the gateway's key "
            "from its host's secret store",
        )

    # -- what Prometheus watches ---------------------------------------------------------

    def health_targets(self, platform: Platform, seen_from: str) -> list[HealthTarget]:
        """Every daemon's health URL Prometheus's host can reach: its own host's on loopback,
        other hosts' LAN daemons at their address (a loopback daemon elsewhere is watched by
        its unit's state alone)."""
        out: list[HealthTarget] = []
        for host in platform.hosts:
            for d in platform.daemons(host):
                if not d.enabled or d.name == NODE.name:
                    continue
                if host == seen_from:
                    url = d.health_url
                elif d.listener.lan:
                    url = f"http://{platform.addresses[host]}:{d.listener.port}{d.health}"
                else:
                    continue
                out.append(HealthTarget(host, d.name, url))
        return out

    def chat_targets(self, platform: Platform) -> list[ChatTarget]:
        """One chat per alias, and one per backend family through its first handle."""
        out = [ChatTarget(a.name, "alias") for a in platform.gateway.aliases]
        seen: set[str] = set()
        for r in platform.routes():
            if r.internal or r.alias_of is not None or r.backend.value in seen:
                continue
            seen.add(r.backend.value)
            out.append(ChatTarget(r.handle, r.backend.value))
        return out

    def node_targets(self, platform: Platform, seen_from: str) -> Iterator[tuple[str, str]]:
        """(host, host:port) of each host's node exporter."""
        for host, opts in NODE.placed(platform):
            if opts.enabled:
                address = LOOPBACK if host == seen_from else platform.addresses[host]
                yield host, f"{address}:{opts.listener.port}"

    def watched(self, platform: Platform) -> list[Watched]:
        """Every scrape target of every Prometheus the data places, by its labels."""
        from homelab.services.litellm import gateway, gateway_host

        out: list[Watched] = []
        for host, opts in self.placed(platform):
            if not opts.enabled:
                continue
            for d in self.daemons(platform, host):
                out.append(Watched(host, "monitoring", (("host", host), ("daemon", d.name)), False))
            if gateway(platform).metrics:
                out.append(Watched(host, "gateway", (("host", gateway_host(platform)),), False))
            for name, _ in self.node_targets(platform, host):
                out.append(Watched(host, "node", (("host", name),), False))
            for t in self.health_targets(platform, host):
                out.append(Watched(host, "health", (("host", t.host), ("daemon", t.daemon)), True))
            for c in self.chat_targets(platform):
                out.append(Watched(host, "chat", (("model", c.name),), True))
        return out

    def prometheus_yml(self, platform: Platform, host: str) -> str:
        from homelab.services.litellm import gateway, gateway_host, gateway_url

        opts = self.options_on(platform, host)
        here = {"host": host}
        blackbox = f"{LOOPBACK}:{opts.blackbox.port}"
        probe_relabel = [
            {"source_labels": ["__address__"], "target_label": "__param_target"},
            {"source_labels": ["__param_target"], "target_label": "instance"},
            {"target_label": "__address__", "replacement": blackbox},
        ]
        own = [
            {
                "targets": [f"{LOOPBACK}:{opts.listener.port}"],
                "labels": {**here, "daemon": self.name},
            },
            {
                "targets": [f"{LOOPBACK}:{opts.alertmanager.port}"],
                "labels": {**here, "daemon": self.alertmanager_name},
            },
            {
                "targets": [f"{LOOPBACK}:{opts.blackbox.port}"],
                "labels": {**here, "daemon": self.blackbox_name},
            },
        ]
        nodes = [
            {"targets": [target], "labels": {"host": name, "daemon": "node-exporter"}}
            for name, target in self.node_targets(platform, host)
        ]
        health = [
            {"targets": [t.url], "labels": {"host": t.host, "daemon": t.daemon}}
            for t in self.health_targets(platform, host)
        ]
        chat_url = gateway_url(platform, "/v1/chat/completions", seen_from=host)
        chats = [
            {
                "targets": [chat_url],
                "labels": {"model": t.name, "kind": t.kind, "__param_module": t.module},
            }
            for t in self.chat_targets(platform)
        ]
        prom = next(d for d in self.daemons(platform, host) if d.name == self.name)
        gateway_job = {
            "job_name": "gateway",
            "metrics_path": "/metrics",
            "authorization": {
                "type": "Bearer",
                "credentials_file": f"{prom.credentials_dir}/{GATEWAY_KEY}",
            },
            "static_configs": [
                {
                    "targets": [gateway_url(platform, "", seen_from=host).split("//", 1)[1]],
                    "labels": {"host": gateway_host(platform), "daemon": "litellm"},
                }
            ],
        }
        config = {
            "global": {
                "scrape_interval": opts.scrape_interval,
                "evaluation_interval": opts.scrape_interval,
            },
            "rule_files": [self.rules_path(platform, host)],
            "alerting": {
                "alertmanagers": [
                    {"static_configs": [{"targets": [f"{LOOPBACK}:{opts.alertmanager.port}"]}]}
                ]
            },
            "scrape_configs": [
                {"job_name": "monitoring", "static_configs": own},
                *([gateway_job] if gateway(platform).metrics else []),
                {"job_name": "node", "static_configs": nodes},
                {
                    "job_name": "health",
                    "metrics_path": "/probe",
                    "params": {"module": ["health"]},
                    "scrape_timeout": opts.probe_timeout,
                    "static_configs": health,
                    "relabel_configs": probe_relabel,
                },
                {
                    "job_name": "chat",
                    "metrics_path": "/probe",
                    "scrape_interval": opts.chat_interval,
                    "scrape_timeout": opts.chat_timeout,
                    "static_configs": chats,
                    "relabel_configs": probe_relabel,
                },
            ],
        }
        return _dump("prometheus.yml", config)

    def blackbox_yml(self, platform: Platform, host: str) -> str:
        opts = self.options_on(platform, host)
        d = next(d for d in self.daemons(platform, host) if d.name == self.blackbox_name)
        key_file = f"{d.credentials_dir}/{GATEWAY_KEY}"
        # A probe gives up a little before Prometheus's own timeout, so its failure is recorded.
        health_timeout = f"{max(1, int(seconds(opts.probe_timeout)) - 1)}s"
        chat_timeout = f"{max(1, int(seconds(opts.chat_timeout)) - 1)}s"
        modules: dict[str, Any] = {
            "health": {
                "prober": "http",
                "timeout": health_timeout,
                "http": {"valid_status_codes": [200], "preferred_ip_protocol": "ip4"},
            }
        }
        for t in self.chat_targets(platform):
            body = {
                "model": t.name,
                "messages": [{"role": "user", "content": "Say OK."}],
                "max_tokens": 1,
            }
            modules[t.module] = {
                "prober": "http",
                "timeout": chat_timeout,
                "http": {
                    "method": "POST",
                    "headers": {"Content-Type": "application/json"},
                    "body": json.dumps(body),
                    "valid_status_codes": [200],
                    "fail_if_body_not_matches_regexp": ['"choices"'],
                    "preferred_ip_protocol": "ip4",
                    # Prometheus's HTTP client settings, inline in the module.
                    "authorization": {"type": "Bearer", "credentials_file": key_file},
                },
            }
        return _dump("blackbox.yml", {"modules": modules})

    def rules(self, platform: Platform, host: str) -> list[dict[str, Any]]:
        """The alert rules: each names the daemon and the host, and says what to do."""
        opts = self.options_on(platform, host)
        th = opts.thresholds
        unit = (
            'label_replace(node_systemd_unit_state{state="active"}, '
            '"daemon", "$1", "name", "(.+)\\\\.service")'
        )
        restarts = (
            f"label_replace(increase(node_systemd_service_restart_total[{th.restart_window}]), "
            '"daemon", "$1", "name", "(.+)\\\\.service")'
        )
        weights = weights_mounts(platform)
        filled = (
            f'100 * (1 - node_filesystem_avail_bytes{{mountpoint=~"{weights}"}} '
            f'/ node_filesystem_size_bytes{{mountpoint=~"{weights}"}})'
        )
        return [
            {
                "alert": "DaemonDown",
                "expr": f"{unit} == 0",
                "for": th.down_for,
                "labels": {"severity": "critical"},
                "annotations": {
                    "summary": "{{ $labels.daemon }} on {{ $labels.host }} is not running",
                    "action": "homelab status; homelab logs {{ $labels.host }} "
                    "{{ $labels.daemon }}; a deploy starts it again",
                },
            },
            {
                "alert": "HealthFailing",
                "expr": 'probe_success{job="health"} == 0',
                "for": th.down_for,
                "labels": {"severity": "critical"},
                "annotations": {
                    "summary": "{{ $labels.daemon }} on {{ $labels.host }} fails its health "
                    "check ({{ $labels.instance }}): down, or hung (accepting, never answering)",
                    "action": "homelab logs {{ $labels.host }} {{ $labels.daemon }}; a hung "
                    "process is restarted with systemctl restart {{ $labels.daemon }}",
                },
            },
            {
                "alert": "DaemonRestarting",
                "expr": f"{restarts} > {th.restarts}",
                "labels": {"severity": "warning"},
                "annotations": {
                    "summary": "{{ $labels.daemon }} on {{ $labels.host }} restarted "
                    f"{{{{ $value }}}} times in {th.restart_window} (a crash loop)",
                    "action": "homelab logs {{ $labels.host }} {{ $labels.daemon }}: the reason "
                    "it exits is in its last lines",
                },
            },
            {
                "alert": "HostUnreachable",
                "expr": 'up{job="node"} == 0',
                "for": th.down_for,
                "labels": {"severity": "critical"},
                "annotations": {
                    "summary": "{{ $labels.host }} does not answer Prometheus",
                    "action": "check that {{ $labels.host }} is powered and on the network; "
                    "homelab status",
                },
            },
            {
                "alert": "ChatProbeFailing",
                "expr": 'probe_success{job="chat"} == 0',
                "for": th.chat_failing_for,
                "labels": {"severity": "critical", "host": host, "daemon": "litellm"},
                "annotations": {
                    "summary": "a chat with {{ $labels.model }} through the gateway fails",
                    "action": "homelab status; homelab probe; the gateway's logs: homelab logs "
                    f"{host} litellm",
                },
            },
            {
                "alert": "WeightsDiskFull",
                "expr": f"{filled} > {th.disk_percent}",
                "for": "5m",
                "labels": {"severity": "warning", "daemon": "node-exporter"},
                "annotations": {
                    "summary": "{{ $labels.mountpoint }} on {{ $labels.host }} (model weights) "
                    f"is over {th.disk_percent:g} % full",
                    "action": "remove models the data no longer serves, or move weights to "
                    "backroom storage",
                },
            },
        ]

    def gateway_rules(self, platform: Platform, host: str) -> list[dict[str, Any]]:
        """The gateway's error rate and p95 latency, from LiteLLM's own metrics."""
        from homelab.services.litellm import gateway, gateway_host

        if not gateway(platform).metrics:
            return []
        th = self.options_on(platform, host).thresholds
        where = {"host": gateway_host(platform), "daemon": "litellm"}
        failed = "sum(rate(litellm_proxy_failed_requests_metric_total[5m]))"
        total = "sum(rate(litellm_proxy_total_requests_metric_total[5m]))"
        p95 = (
            "histogram_quantile(0.95, "
            "sum by (le) (rate(litellm_request_total_latency_metric_bucket[5m])))"
        )
        return [
            {
                "alert": "GatewayErrorRate",
                "expr": f"{failed} / {total} > {th.gateway_error_ratio}",
                "for": "5m",
                "labels": {"severity": "warning", **where},
                "annotations": {
                    "summary": "{{ $value | humanizePercentage }} of the gateway's requests "
                    f"fail (over {th.gateway_error_ratio:.0%})",
                    "action": "the board's errors by model name; homelab logs "
                    f"{where['host']} litellm; the failing backend's logs",
                },
            },
            {
                "alert": "GatewaySlow",
                "expr": f"{p95} > {th.gateway_p95_seconds:g}",
                "for": "5m",
                "labels": {"severity": "warning", **where},
                "annotations": {
                    "summary": "the gateway's p95 request time is {{ $value | humanize }}s "
                    f"(over {th.gateway_p95_seconds:g}s)",
                    "action": "the board's latency by model name: a loaded or hung backend; "
                    "homelab status",
                },
            },
        ]

    def rules_yml(self, platform: Platform, host: str) -> str:
        rules = [*self.rules(platform, host), *self.gateway_rules(platform, host)]
        return _dump("rules.yml", {"groups": [{"name": "platform", "rules": rules}]})

    def alertmanager_yml(self, platform: Platform, host: str) -> str:
        opts = self.options_on(platform, host)
        r = opts.receivers
        receiver: dict[str, Any] = {"name": "operator"}
        hooks = [
            {"url": url, "send_resolved": True} for url in (r.webhook, r.ntfy) if url is not None
        ]
        if hooks:
            receiver["webhook_configs"] = hooks
        if r.email is not None:
            receiver["email_configs"] = [
                {
                    "to": r.email,
                    "from": r.email_from,
                    "smarthost": r.smarthost,
                    "require_tls": False,
                    "send_resolved": True,
                }
            ]
        config = {
            "route": {
                "receiver": "operator",
                "group_by": ["alertname", "host", "daemon"],
                "group_wait": opts.group_wait,
                "group_interval": opts.group_interval,
                "repeat_interval": opts.repeat_interval,
            },
            "receivers": [receiver],
        }
        return _dump("alertmanager.yml", config)

    # -- homelab backup: the operator's silences ------------------------------------------

    def alertmanager_url(self, platform: Platform, host: str) -> str:
        return f"http://{LOOPBACK}:{self.options_on(platform, host).alertmanager.port}"

    def silences_export(self, platform: Platform, host: str) -> str:
        """Prints the silences Alertmanager holds, as JSON (``amtool silence import`` reads it)."""
        url = self.alertmanager_url(platform, host)
        return f"{AMTOOL} silence query --alertmanager.url={url} --output=json"

    def silences_import(self, platform: Platform, host: str) -> str:
        """Takes exported silences on stdin; those still running are set again."""
        url = self.alertmanager_url(platform, host)
        return f"{AMTOOL} silence import --alertmanager.url={url} --force"

    # -- homelab status: the alerts firing ------------------------------------------------

    def status_command(self, platform: Platform, host: str) -> str | None:
        opts = self.on(platform, host)
        if opts is None or not opts.enabled:
            return None
        url = (
            f"http://{LOOPBACK}:{opts.alertmanager.port}/api/v2/alerts"
            "?active=true&silenced=false&inhibited=false"
        )
        return f"curl -s --max-time 5 '{url}' || echo unreachable"

    def status_lines(self, platform: Platform, host: str, output: list[str]) -> list[str]:
        text = "\n".join(output).strip()
        try:
            alerts = json.loads(text)
        except ValueError:
            return [f"alerts: Alertmanager on {host} did not answer ({text[:80] or 'nothing'})"]
        lines = []
        for a in sorted(alerts, key=lambda a: str(a.get("startsAt", ""))):
            labels, notes = a.get("labels", {}), a.get("annotations", {})
            where = "/".join(x for x in (labels.get("host"), labels.get("daemon")) if x)
            since = str(a.get("startsAt", ""))[:19].replace("T", " ")
            lines.append(
                f"alert: {labels.get('alertname', '?')} {where}: {notes.get('summary', '')} "
                f"(firing since {since} UTC)"
            )
        return lines

    def files(self, platform: Platform, daemon: Daemon) -> list[HostFile]:
        host = daemon.host
        if daemon.name == self.name:
            return [
                # The rules first: the config's check loads them from their live path.
                HostFile(
                    path=self.rules_path(platform, host),
                    content=self.rules_yml(platform, host),
                    group=daemon.user,
                    mode="0640",
                    restarts=(daemon.name,),
                ),
                HostFile(
                    path=f"{self.consoles_dir(platform, host)}/{BOARD}",
                    content=board_html(platform, host, weights_mounts(platform)),
                    group=daemon.user,
                    mode="0640",
                ),
                HostFile(
                    path=self.config_path(platform, host),
                    content=self.prometheus_yml(platform, host),
                    group=daemon.user,
                    mode="0640",
                    restarts=(daemon.name,),
                ),
            ]
        if daemon.name == self.alertmanager_name:
            content = self.alertmanager_yml(platform, host)
        else:
            content = self.blackbox_yml(platform, host)
        assert daemon.config is not None
        return [
            HostFile(
                path=daemon.config,
                content=content,
                group=daemon.user,
                mode="0640",
                restarts=(daemon.name,),
            )
        ]


def weights_mounts(platform: Platform) -> str:
    """A PromQL regular expression of the mount points that may hold the weights' storage."""
    return "|".join(sorted({m for root in platform.storage for m in _mount_candidates(root.path)}))


def _mount_candidates(path: str) -> list[str]:
    """The mount points that may hold ``path``: itself and each folder above it."""
    parts = path.rstrip("/").split("/")
    found = ["/"] + ["/".join(parts[:i]) for i in range(2, len(parts) + 1)]
    # A regular expression in a PromQL string: its backslashes doubled.
    return [re.sub(r"([.^$*+?()\[\]{}|])", r"\\\\\1", m) for m in found]


MONITORING = MonitoringService()
SERVICE = MONITORING
