"""Monitoring, derived from the model: what Prometheus scrapes and probes, its rules, where
alerts go, who may reach a node exporter, and the data's rules."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from homelab.model import Platform
from homelab.render import daemon_files
from homelab.services.monitoring import MONITORING, Monitoring
from homelab.services.node_exporter import SERVICE as NODE


def prometheus_host(p: Platform) -> str:
    (host,) = MONITORING.prometheus_hosts(p)
    return host


def config(p: Platform) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(MONITORING.prometheus_yml(p, prometheus_host(p)))
    return loaded


def job(p: Platform, name: str) -> dict[str, Any]:
    return next(j for j in config(p)["scrape_configs"] if j["job_name"] == name)


def test_every_host_with_a_node_exporter_is_scraped(lab_platform: Platform) -> None:
    labels = {c["labels"]["host"] for c in job(lab_platform, "node")["static_configs"]}
    expected = {h for h, _ in NODE.placed(lab_platform)}
    assert labels == expected, f"expected node targets for {expected}, found {labels}"


def test_every_reachable_daemon_health_url_is_probed(lab_platform: Platform) -> None:
    p = lab_platform
    here = prometheus_host(p)
    probed = {
        (c["labels"]["host"], c["labels"]["daemon"]): c["targets"][0]
        for c in job(p, "health")["static_configs"]
    }
    for host in p.hosts:
        for d in p.daemons(host):
            if not d.enabled or d.name == NODE.name:
                continue
            if host == here:
                assert probed.get((host, d.name)) == d.health_url, (host, d.name)
            elif d.listener.lan:
                url = f"http://{p.addresses[host]}:{d.listener.port}{d.health}"
                assert probed.get((host, d.name)) == url, (host, d.name)
            else:
                assert (host, d.name) not in probed, f"{host}/{d.name} is on its loopback"


def test_one_chat_per_alias_and_backend_family(lab_platform: Platform) -> None:
    p = lab_platform
    models = [c["labels"]["model"] for c in job(p, "chat")["static_configs"]]
    for alias in p.gateway.aliases:
        assert alias.name in models, f"expected a chat probe of {alias.name}, found {models}"
    families = {r.backend.value for r in p.routes() if not r.internal and r.alias_of is None}
    kinds = {c["labels"]["kind"] for c in job(p, "chat")["static_configs"]} - {"alias"}
    assert kinds == families, f"expected one chat per family {families}, found {kinds}"


def test_the_gateway_is_scraped_with_its_key_as_a_credential(lab_platform: Platform) -> None:
    p = lab_platform
    gateway = job(p, "gateway")
    prom = next(d for d in MONITORING.daemons(p, prometheus_host(p)) if d.name == MONITORING.name)
    key_file = gateway["authorization"]["credentials_file"]
    assert key_file.startswith(prom.credentials_dir + "/"), key_file
    unit = daemon_files(p, prom)[0].content
    assert f"LoadCredential=gateway-key:{p.host(prometheus_host(p)).layout.secret_store}/" in unit


@pytest.mark.parametrize(
    "alert",
    [
        "DaemonDown",
        "HealthFailing",
        "DaemonRestarting",
        "HostUnreachable",
        "ChatProbeFailing",
        "WeightsDiskFull",
        "GatewayErrorRate",
        "GatewaySlow",
    ],
)
def test_each_alert_says_what_to_do(platform: Platform, alert: str) -> None:
    rules = yaml.safe_load(MONITORING.rules_yml(platform, prometheus_host(platform)))
    found = {r["alert"]: r for r in rules["groups"][0]["rules"]}
    assert alert in found, f"expected a rule {alert}, found {sorted(found)}"
    assert found[alert]["annotations"]["action"].strip(), alert


def test_down_is_two_minutes_on_the_real_platform(platform: Platform) -> None:
    rules = yaml.safe_load(MONITORING.rules_yml(platform, prometheus_host(platform)))
    found = {r["alert"]: r.get("for") for r in rules["groups"][0]["rules"]}
    assert found["DaemonDown"] == found["HealthFailing"] == "2m", found


def test_receivers_come_from_the_data(lab_platform: Platform) -> None:
    p = lab_platform
    opts = MONITORING.options_on(p, prometheus_host(p))
    am = yaml.safe_load(MONITORING.alertmanager_yml(p, prometheus_host(p)))
    hooks = [h["url"] for r in am["receivers"] for h in r.get("webhook_configs", [])]
    assert hooks == [opts.receivers.webhook], hooks
    assert am["route"]["group_by"] == ["alertname", "host", "daemon"]


def test_mail_goes_through_the_hosts_mta(platform: Platform) -> None:
    host = prometheus_host(platform)
    given = platform.host(host).model_dump_data()
    given["monitoring"] = {**given["monitoring"], "receivers": {"email": "op@example.org"}}
    p = platform.evolve(hosts={**platform.hosts, host: given})
    am = yaml.safe_load(MONITORING.alertmanager_yml(p, host))
    (mail,) = am["receivers"][0]["email_configs"]
    assert (mail["to"], mail["smarthost"]) == ("op@example.org", "localhost:25"), mail


@pytest.mark.parametrize(
    ("given", "rule"),
    [
        ({"probe_timeout": "20s"}, "a probe ends before the next one starts"),
        ({"chat_timeout": "10m"}, "a probe ends before the next one starts"),
        ({"retention": "forever"}, "pattern"),
        ({"receivers": {"webhook": "ftp://x"}}, "pattern"),
    ],
)
def test_bad_monitoring_data_names_the_rule(given: dict[str, Any], rule: str) -> None:
    with pytest.raises(ValidationError, match=rule):
        Monitoring.model_validate(given)


def test_status_shows_the_alerts_firing(platform: Platform) -> None:
    host = prometheus_host(platform)
    command = MONITORING.status_command(platform, host)
    assert command is not None and "/api/v2/alerts?active=true&silenced=false" in command
    answer = (
        '[{"labels": {"alertname": "DaemonDown", "host": "mini", "daemon": "searxng"}, '
        '"annotations": {"summary": "searxng on mini is not running"}, '
        '"startsAt": "2026-01-02T03:04:05.000Z"}]'
    )
    lines = MONITORING.status_lines(platform, host, answer.splitlines())
    expected = [
        "alert: DaemonDown mini/searxng: searxng on mini is not running "
        "(firing since 2026-01-02 03:04:05 UTC)"
    ]
    assert lines == expected, lines
    silent = MONITORING.status_lines(platform, host, ["unreachable"])
    assert silent and "did not answer" in silent[0], silent


def test_each_chat_probe_sends_a_json_chat(lab_platform: Platform) -> None:
    import json

    p = lab_platform
    modules = yaml.safe_load(MONITORING.blackbox_yml(p, prometheus_host(p)))["modules"]
    for target in MONITORING.chat_targets(p):
        body = json.loads(modules[target.module]["http"]["body"])
        assert body["model"] == target.name and body["max_tokens"] == 1, body


def monitoring_daemons(p: Platform) -> list[Any]:
    host = prometheus_host(p)
    return list(MONITORING.daemons(p, host))


@pytest.mark.parametrize("name", ["prometheus-server", "alertmanager", "blackbox-exporter"])
def test_a_changed_config_is_read_again_at_sighup_not_by_a_restart(
    lab_platform: Platform, name: str
) -> None:
    """A model added changes Prometheus's targets: a reload keeps it scraping."""
    (d,) = [d for d in monitoring_daemons(lab_platform) if d.name == name]
    files = daemon_files(lab_platform, d)
    checked = {f.path for f in files if d.name in f.restarts and f.path != d.unit_path}
    assert d.reloadable and checked <= set(d.reload_files), (
        f"{name}: expected its config files reloaded, found reloadable={d.reloadable}, "
        f"reload_files={d.reload_files}, files that would restart it={sorted(checked)}"
    )
    unit = next(f.content for f in files if f.path == d.unit_path)
    assert "ExecReload=+/bin/kill -HUP ${MAINPID}" in unit, f"{name}: no SIGHUP reload in its unit"
