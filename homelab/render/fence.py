"""A daemon's fence: an nftables table of its own that lets its port take requests from
loopback and the hosts it is reached from, and resets every other connection (a refusal the
client sees at once, not a timeout). Loaded by its unit before it starts (the table is
replaced whole, so a reload is idempotent) and removed after it stops."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from homelab.render.files import HostFile

if TYPE_CHECKING:
    from homelab.model.platform import Platform
    from homelab.model.service import Daemon


def _match(address: str) -> str:
    """The nftables match of one peer's source address (a name is resolved when it loads)."""
    try:
        family = "ip6" if ipaddress.ip_address(address).version == 6 else "ip"
    except ValueError:
        family = "ip"
    return f"{family} saddr {address}"


def fence_file(platform: Platform, daemon: Daemon) -> HostFile | None:
    """The daemon's nftables rules, or None when it is not fenced."""
    if daemon.fence_path is None or daemon.reached_from is None:
        return None
    port, table = daemon.listener.port, daemon.fence_table
    peers = sorted({platform.addresses[h] for h in daemon.reached_from if h != daemon.host})
    names = ", ".join(sorted(set(daemon.reached_from) - {daemon.host})) or "no other host"
    accepts = "".join(f"        tcp dport {port} {_match(a)} accept\n" for a in peers)
    text = (
        f"# {daemon.name}'s port {port}: loopback and {names}; any other host is refused.\n"
        f"table inet {table}\n"
        f"delete table inet {table}\n"
        f"table inet {table} {{\n"
        "    chain input {\n"
        "        type filter hook input priority filter; policy accept;\n"
        f'        tcp dport {port} iif "lo" accept\n'
        f"{accepts}"
        f"        tcp dport {port} reject with tcp reset\n"
        "    }\n"
        "}\n"
    )
    return HostFile(path=daemon.fence_path, content=text, mode="0644", restarts=(daemon.name,))
