"""A fenced daemon's port: the node exporter takes only loopback and Prometheus's hosts, by an
nftables table its unit loads before it starts and removes after it stops; a Mac's is not
fenced; verify tries it from the others and expects a refusal."""

from __future__ import annotations

from homelab.model import Platform
from homelab.render.fence import fence_file
from homelab.render.units import service_file
from verify import params


def test_the_exporter_is_reached_from_prometheus_hosts_only(lab_platform: Platform) -> None:
    d = lab_platform.daemon("studio", "node-exporter")
    assert d.reached_from == ("mini",)
    fence = fence_file(lab_platform, d)
    assert fence is not None and fence.path == "/etc/homelab-llm/node-exporter/fence.nft"
    lines = [line.strip() for line in fence.content.splitlines()]
    mini = lab_platform.addresses["mini"]
    assert lines[-5:-2] == [
        'tcp dport 9100 iif "lo" accept',
        f"tcp dport 9100 ip saddr {mini} accept",
        "tcp dport 9100 reject with tcp reset",
    ]


def test_the_fence_replaces_its_own_table_whole(lab_platform: Platform) -> None:
    d = lab_platform.daemon("studio", "node-exporter")
    fence = fence_file(lab_platform, d)
    assert fence is not None
    # Declared, deleted, declared again: loading it twice leaves one table, not two rule sets.
    assert fence.content.splitlines()[1:4] == [
        "table inet homelab-node-exporter",
        "delete table inet homelab-node-exporter",
        "table inet homelab-node-exporter {",
    ]
    assert fence.restarts == ("node-exporter",)


def test_on_prometheus_host_only_loopback_is_let_in(lab_platform: Platform) -> None:
    fence = fence_file(lab_platform, lab_platform.daemon("mini", "node-exporter"))
    assert fence is not None
    assert "saddr" not in fence.content


def test_the_unit_loads_the_fence_as_root_before_it_starts(lab_platform: Platform) -> None:
    unit = service_file(lab_platform.daemon("studio", "node-exporter")).content
    assert "ExecStartPre=+/usr/sbin/nft -f /etc/homelab-llm/node-exporter/fence.nft" in unit
    assert "ExecStopPost=+-/usr/sbin/nft delete table inet homelab-node-exporter" in unit


def test_a_macs_exporter_is_not_fenced(platform: Platform) -> None:
    d = platform.daemon("studio", "node-exporter")
    assert d.fence_path is None
    assert fence_file(platform, d) is None


def test_verify_expects_the_others_refused(lab_platform: Platform) -> None:
    lan = [d for d in lab_platform.enabled_daemons() if d.name == "node-exporter"]
    reaches = params.reaches(lab_platform, lan)
    refused = sorted(r.id for r in reaches if not r.allowed)
    assert refused == [
        "mac2/node-exporter-from-studio",
        "mini/node-exporter-from-mac2",
        "mini/node-exporter-from-studio",
        "studio/node-exporter-from-mac2",
    ]
    assert sorted(r.id for r in reaches if r.allowed) == [
        "mac2/node-exporter-from-mini",
        "studio/node-exporter-from-mini",
    ]
