"""Where the lab lives and how it is addressed: the one place for its names, paths and addresses.

Everything else (the CLI, ``lab/inventory.py``, the tests, the benchmark) reads these values
from here. Three environment variables move the lab: ``HOMELAB_LAB_DIR`` (host roots, SSH
key, state), ``HOMELAB_LAB_CACHE`` (the cached base root and the shared uv cache) and
``HOMELAB_LAB_SUBNET`` (the bridge's /24, when the default one is taken on a machine).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The lab's two hosts, in the order they are started; the same names as ``inventory.py``.
HOST_NAMES: tuple[str, ...] = ("mini", "studio")
#: Each host's address is ``subnet[offset]``; the bridge (the hosts' gateway) is ``subnet[1]``.
HOST_OFFSETS: Mapping[str, int] = {"mini": 11, "studio": 12}
GATEWAY_OFFSET = 1

DEFAULT_LAB_DIR = "/var/lib/homelab-lab"
DEFAULT_CACHE_DIR = "/var/cache/homelab-lab"
#: Not 192.168.x: that is the real homelab's LAN, which the lab must never look like.
DEFAULT_SUBNET = "10.213.7.0/24"
BRIDGE = "hlab0"

SSH_USER = "root"
SSH_PORT = 22
#: Where the shared uv cache is bind-mounted inside each host (deploys set UV_CACHE_DIR to it).
UV_CACHE_IN_HOST = "/var/cache/uv-shared"
#: The machine's folder of prebuilt wheels (a CPU build of torch among them), bind-mounted
#: read-only at the same path in each host when the machine has it: the lab's find_links.
WHEELS = "/opt/wheels"

#: Every iptables rule the lab adds carries this comment, so leftovers can be found and removed.
#: Held by whoever changes or measures the lab (lab tests, bench/perf.py, an operator's
#: ``flock /tmp/homelab-lab.lock pyinfra ...``), so one cannot undo what another set up.
LAB_LOCK = Path("/tmp/homelab-lab.lock")

NAT_TAG = "homelab-lab"
#: Set in each container's init environment, so a lab's processes can be found without state.
PROCESS_MARK = "HOMELAB_LAB_ROOT"

SUITE = "bookworm"
#: The base root: what LAB.md verified, plus what every deploy needs anyway, so it is cached.
BASE_PACKAGES: tuple[str, ...] = (
    "systemd",
    "systemd-sysv",
    "dbus",
    "openssh-server",
    "python3",
    "iproute2",
    "sudo",
    "ca-certificates",
    "curl",
    "git",
    "iputils-ping",
    "procps",
)
#: Bumped when the way the base root is made changes, so an older cache is rebuilt.
BASE_LAYOUT_VERSION = 1

#: Commands the lab runs on the machine, and the Debian package that brings each.
MACHINE_COMMANDS: Mapping[str, str] = {
    "debootstrap": "debootstrap",
    "systemd-nspawn": "systemd-container",
    "iptables": "iptables",
    "ssh": "openssh-client",
    "ssh-keygen": "openssh-client",
    "ip": "iproute2",
}
#: Files the lab needs on the machine, and the Debian package that brings each.
MACHINE_FILES: Mapping[str, str] = {
    "/usr/share/keyrings/debian-archive-keyring.gpg": "debian-archive-keyring",
}


class ConfigError(ValueError):
    """A setting from the environment that the lab cannot use."""


def parse_subnet(text: str) -> ipaddress.IPv4Network:
    """The lab's /24 from ``text``, refused when it is not a private IPv4 /24 outside 192.168."""
    try:
        net = ipaddress.IPv4Network(text.strip(), strict=True)
    except ValueError as exc:
        raise ConfigError(f"HOMELAB_LAB_SUBNET={text!r} is not an IPv4 network: {exc}") from exc
    if net.prefixlen != 24:
        raise ConfigError(f"HOMELAB_LAB_SUBNET={text!r} must be a /24, e.g. 10.213.7.0/24")
    if not net.is_private:
        raise ConfigError(
            f"HOMELAB_LAB_SUBNET={text!r} must be a private range (10.x or 172.16-31.x)"
        )
    if net.subnet_of(ipaddress.IPv4Network("192.168.0.0/16")):
        raise ConfigError(
            f"HOMELAB_LAB_SUBNET={text!r} is in 192.168.0.0/16, the real homelab's LAN: "
            "pick a 10.x or 172.16-31.x /24"
        )
    return net


@dataclass(frozen=True)
class LabConfig:
    """The lab's paths, bridge and addresses."""

    lab_dir: Path
    cache_dir: Path
    subnet: ipaddress.IPv4Network
    bridge: str = BRIDGE

    # Addresses --------------------------------------------------------------------------

    @property
    def gateway(self) -> str:
        return str(self.subnet[GATEWAY_OFFSET])

    def address(self, name: str) -> str:
        return str(self.subnet[HOST_OFFSETS[name]])

    @property
    def addresses(self) -> dict[str, str]:
        return {name: self.address(name) for name in HOST_NAMES}

    # Paths under the lab dir: what one lab owns --------------------------------------

    @property
    def hosts_dir(self) -> Path:
        return self.lab_dir / "hosts"

    def host_root(self, name: str) -> Path:
        return self.hosts_dir / name

    @property
    def ssh_dir(self) -> Path:
        return self.lab_dir / "ssh"

    @property
    def ssh_key(self) -> Path:
        return self.ssh_dir / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.ssh_dir / "known_hosts"

    @property
    def ssh_config(self) -> Path:
        return self.ssh_dir / "config"

    @property
    def state_file(self) -> Path:
        return self.lab_dir / "state.json"

    @property
    def lock_file(self) -> Path:
        return self.lab_dir / "lock"

    @property
    def log_dir(self) -> Path:
        return self.lab_dir / "logs"

    def host_log(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    # Paths under the cache dir: kept across down and destroy ------------------------

    @property
    def base_root(self) -> Path:
        return self.cache_dir / f"base-{SUITE}-v{BASE_LAYOUT_VERSION}"

    @property
    def uv_cache(self) -> Path:
        return self.cache_dir / "uv"

    @property
    def owned_dirs(self) -> tuple[Path, ...]:
        """The directories under which every mount of the lab's lies."""
        return (self.lab_dir, self.cache_dir)

    # Connection data ------------------------------------------------------------------

    def inventory_data(self, name: str) -> dict[str, Any]:
        """pyinfra host data for ``name``: the SSH connector's keys plus ``uv_cache_dir``."""
        return {
            "ssh_hostname": self.address(name),
            "ssh_port": SSH_PORT,
            "ssh_user": SSH_USER,
            "ssh_key": str(self.ssh_key),
            # The lab writes each host's keys into its own known_hosts file, so checking
            # stays strict and never asks a question.
            "ssh_known_hosts_file": str(self.known_hosts),
            "ssh_strict_host_key_checking": "yes",
            "ssh_allow_agent": False,
            "ssh_look_for_keys": False,
            "uv_cache_dir": UV_CACHE_IN_HOST,
        }


def load_config(environ: Mapping[str, str] | None = None) -> LabConfig:
    """The lab's config from the environment (``os.environ`` when not given)."""
    env = os.environ if environ is None else environ
    return LabConfig(
        lab_dir=Path(env.get("HOMELAB_LAB_DIR") or DEFAULT_LAB_DIR).resolve(),
        cache_dir=Path(env.get("HOMELAB_LAB_CACHE") or DEFAULT_CACHE_DIR).resolve(),
        subnet=parse_subnet(env.get("HOMELAB_LAB_SUBNET") or DEFAULT_SUBNET),
    )
