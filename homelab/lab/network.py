"""The lab's network on the machine: one bridge, tagged NAT/forward rules, IPv4 forwarding."""

from __future__ import annotations

import ipaddress
import json
import shlex
from pathlib import Path
from typing import Any

from homelab.lab.config import NAT_TAG, LabConfig
from homelab.lab.errors import LabError
from homelab.lab.system import CommandFailed, run

IP_FORWARD = Path("/proc/sys/net/ipv4/ip_forward")
TABLES = ("nat", "filter")


# Address range ------------------------------------------------------------------------


def subnet_conflicts(
    subnet: ipaddress.IPv4Network,
    bridge: str,
    addresses: list[dict[str, Any]],
    routes: list[dict[str, Any]],
) -> list[str]:
    """What on the machine already uses ``subnet`` (from ``ip -j`` output), besides our bridge."""
    found: list[str] = []
    for link in addresses:
        name = str(link.get("ifname", "?"))
        if name == bridge:
            continue
        for info in link.get("addr_info", []):
            if info.get("family", "inet") != "inet" or "local" not in info:
                continue
            net = ipaddress.IPv4Interface(f"{info['local']}/{info.get('prefixlen', 32)}").network
            if net.overlaps(subnet):
                found.append(f"{name} has {info['local']}/{info.get('prefixlen', 32)}")
    for route in routes:
        dst, dev = str(route.get("dst", "default")), str(route.get("dev", ""))
        if dst == "default" or dev == bridge:
            continue
        try:
            net = ipaddress.IPv4Network(dst if "/" in dst else f"{dst}/32", strict=False)
        except ValueError:
            continue
        if net.overlaps(subnet) and not any(dev and dev in f for f in found):
            found.append(f"a route to {dst} via {dev or route.get('gateway', '?')}")
    return found


def check_subnet_free(config: LabConfig) -> None:
    addresses = json.loads(run(["ip", "-j", "-4", "addr", "show"]).stdout or "[]")
    routes = json.loads(run(["ip", "-j", "-4", "route", "show"]).stdout or "[]")
    conflicts = subnet_conflicts(config.subnet, config.bridge, addresses, routes)
    if conflicts:
        raise LabError(
            f"the lab's address range {config.subnet} is already in use on this machine "
            f"({'; '.join(conflicts)})",
            "pick a free private /24 with HOMELAB_LAB_SUBNET (e.g. 10.213.8.0/24) for every "
            "lab command and pyinfra run, or free that range",
        )


# Bridge -------------------------------------------------------------------------------


def bridge_exists(name: str) -> bool:
    return Path("/sys/class/net", name).exists()


def create_bridge(config: LabConfig) -> None:
    name = config.bridge
    try:
        run(["ip", "link", "add", name, "type", "bridge"])
        run(["ip", "addr", "add", f"{config.gateway}/{config.subnet.prefixlen}", "dev", name])
        run(["ip", "link", "set", name, "up"])
    except CommandFailed as exc:
        delete_bridge(name)
        raise LabError(
            f"could not make the lab's bridge {name} ({exc.reason})",
            "the lab needs the kernel's bridge support (modprobe bridge) and CAP_NET_ADMIN",
        ) from exc


def delete_bridge(name: str) -> bool:
    if not bridge_exists(name):
        return False
    run(["ip", "link", "delete", name], check=False)
    return True


# NAT and forwarding ---------------------------------------------------------------------


def lab_rules(config: LabConfig) -> list[tuple[str, list[str]]]:
    """(table, rule) for each rule the lab adds, each tagged with its comment."""
    tag = ["-m", "comment", "--comment", NAT_TAG]
    subnet, bridge = str(config.subnet), config.bridge
    return [
        ("nat", ["POSTROUTING", "-s", subnet, "!", "-o", bridge, *tag, "-j", "MASQUERADE"]),
        # Forwarding may default to DROP on a machine (Docker sets that): let the lab through.
        ("filter", ["FORWARD", "-i", bridge, *tag, "-j", "ACCEPT"]),
        (
            "filter",
            [
                "FORWARD",
                "-o",
                bridge,
                "-m",
                "conntrack",
                "--ctstate",
                "RELATED,ESTABLISHED",
                *tag,
                "-j",
                "ACCEPT",
            ],
        ),
    ]


def add_rules(config: LabConfig) -> None:
    for table, rule in lab_rules(config):
        chain, spec = rule[0], rule[1:]
        exists = run(["iptables", "-w", "-t", table, "-C", chain, *spec], check=False)
        if exists.returncode == 0:
            continue
        # Insert, so the lab's rules come before any catch-all DROP already in the chain.
        try:
            run(["iptables", "-w", "-t", table, "-I", chain, "1", *spec])
        except CommandFailed as exc:
            raise LabError(
                f"could not add the lab's {table} rule to {chain} ({exc.reason})",
                "the lab needs iptables with the nat table (kernel nf_tables or ip_tables)",
            ) from exc


def tagged_rules(listing: str, tag: str = NAT_TAG) -> list[list[str]]:
    """Rules from ``iptables -S`` output that carry the lab's tag, as ``-A CHAIN ...`` args."""
    rules: list[list[str]] = []
    for line in listing.splitlines():
        args = shlex.split(line)
        tagged = "--comment" in args[:-1] and args[args.index("--comment") + 1] == tag
        if len(args) > 2 and args[0] == "-A" and tagged:
            rules.append(args)
    return rules


def find_tagged_rules() -> list[tuple[str, list[str]]]:
    found: list[tuple[str, list[str]]] = []
    for table in TABLES:
        listing = run(["iptables", "-w", "-t", table, "-S"], check=False).stdout
        found.extend((table, rule) for rule in tagged_rules(listing))
    return found


def remove_tagged_rules() -> int:
    """Delete every iptables rule carrying the lab's tag, whoever's state made it."""
    removed = 0
    for table, rule in find_tagged_rules():
        run(["iptables", "-w", "-t", table, "-D", *rule[1:]], check=False)
        removed += 1
    return removed


def ip_forward() -> str:
    return IP_FORWARD.read_text().strip()


def set_ip_forward(value: str) -> None:
    try:
        IP_FORWARD.write_text(f"{value}\n")
    except OSError as exc:
        raise LabError(
            f"could not set net.ipv4.ip_forward={value} ({exc.strerror})",
            "the lab needs to forward its hosts' traffic: allow writing /proc/sys on this machine",
        ) from exc
