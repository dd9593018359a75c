"""Where the lab lives and how it is addressed: the one place for its names, paths and addresses.

Everything else (the CLI, ``lab/inventory.py``, the tests, the benchmark) reads these values
from here. Three environment variables move the lab: ``HOMELAB_LAB_DIR`` (host roots, SSH
key, state), ``HOMELAB_LAB_CACHE`` (the cached base root and the shared uv cache) and
``HOMELAB_LAB_SUBNET`` (the bridge's /24, when the default one is taken on a machine).

The lab's hosts are the hosts its inventory lists (``lab/inventory.py`` unless the CLI is
given another): ``LabConfig.inventory`` makes that inventory's entries, with host ``i`` at
``subnet[11 + i]``; ``LabConfig.hosts`` reads them back, name and address, without pyinfra.
"""

from __future__ import annotations

import ipaddress
import os
import re
import runpy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from homelab import PROJECT_ROOT

#: The inventory the lab runs when none is named: its hosts are the lab's hosts.
DEFAULT_INVENTORY = PROJECT_ROOT / "lab" / "inventory.py"
#: Host ``i`` of the inventory is at ``subnet[FIRST_HOST_OFFSET + i]``; the bridge (the hosts'
#: gateway) is ``subnet[1]``.
FIRST_HOST_OFFSET = 11
GATEWAY_OFFSET = 1
#: A host name is a hostname label: it names the host's root, machine, cgroup and veth too.
HOST_NAME = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")

#: Where the lab's platform comes from, and the host data key that says so (the value of
#: ``homelab.groupdata.DATA_KEY``; not imported, so the lab's commands stay light).
LAB_GROUP_DATA = Path(__file__).resolve().parents[2] / "lab" / "group_data"
LAB_DATA_KEY = "homelab_data"

DEFAULT_LAB_DIR = "/var/lib/homelab-lab"
DEFAULT_CACHE_DIR = "/var/cache/homelab-lab"
#: Not 192.168.x: that is the real homelab's LAN, which the lab must never look like.
DEFAULT_SUBNET = "10.213.7.0/24"
BRIDGE = "hlab0"

SSH_USER = "root"
SSH_PORT = 22
#: Where the shared uv cache is bind-mounted inside each host (deploys set UV_CACHE_DIR to it).
UV_CACHE_IN_HOST = "/var/cache/uv-shared"
#: Where the shared cache of wheels built on the hosts is bind-mounted (llama.cpp's server:
#: built once for all the lab's hosts, kept across down and destroy).
WHEEL_CACHE_IN_HOST = "/var/cache/wheels-shared"
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
    """A setting from the environment, or a lab inventory, that the lab cannot use."""


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
    #: The pyinfra inventory whose hosts the lab runs.
    inventory_file: Path = DEFAULT_INVENTORY

    # Hosts and addresses ----------------------------------------------------------------

    @property
    def gateway(self) -> str:
        return str(self.subnet[GATEWAY_OFFSET])

    def host_address(self, index: int) -> str:
        """The address of the inventory's host number ``index`` (from 0)."""
        last = self.subnet.num_addresses - 2  # the broadcast address is no host's
        if not 0 <= index <= last - FIRST_HOST_OFFSET:
            raise ConfigError(
                f"the lab has addresses for {last - FIRST_HOST_OFFSET + 1} hosts; "
                f"host {index + 1} has none"
            )
        return str(self.subnet[FIRST_HOST_OFFSET + index])

    @cached_property
    def hosts(self) -> dict[str, str]:
        """Name -> address of each host ``inventory_file`` lists, in its order.

        Read on first use, not in :func:`load_config`: the lab inventory itself calls
        ``load_config`` to make its entries.
        """
        hosts = host_addresses(read_inventory(self.inventory_file), self.inventory_file)
        check_addresses(hosts, self.subnet, self.inventory_file)
        return hosts

    def address(self, name: str) -> str:
        try:
            return self.hosts[name]
        except KeyError:
            raise ConfigError(
                f"{self.inventory_file} lists no host {name!r} "
                f"(it lists {', '.join(self.hosts) or 'none'})"
            ) from None

    @property
    def addresses(self) -> dict[str, str]:
        return dict(self.hosts)

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
    def wheel_cache(self) -> Path:
        return self.cache_dir / "wheels"

    @property
    def owned_dirs(self) -> tuple[Path, ...]:
        """The directories under which every mount of the lab's lies."""
        return (self.lab_dir, self.cache_dir)

    # Connection data ------------------------------------------------------------------

    def inventory(self, names: Iterable[str]) -> list[tuple[str, dict[str, Any]]]:
        """A pyinfra group of lab hosts, ``names`` in order: each address follows from its place."""
        listed = list(names)
        for name in listed:
            check_host_name(name, "the lab inventory")
        twice = sorted({name for name in listed if listed.count(name) > 1})
        if twice:
            raise ConfigError(f"the lab inventory names {', '.join(twice)} more than once")
        return [(name, self.inventory_data(name, i)) for i, name in enumerate(listed)]

    def inventory_data(self, name: str, index: int) -> dict[str, Any]:
        """pyinfra host data for host ``index`` of the inventory: SSH keys plus ``uv_cache_dir``."""
        return {
            "ssh_hostname": self.host_address(index),
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
            "wheel_cache_dir": WHEEL_CACHE_IN_HOST,
            # The lab's platform is its own group data's, not the project's (see
            # homelab.groupdata.DATA_KEY: the project's stays out of its way).
            LAB_DATA_KEY: str(LAB_GROUP_DATA),
        }


def load_config(
    environ: Mapping[str, str] | None = None, inventory: Path | None = None
) -> LabConfig:
    """The lab's config from the environment (``os.environ`` when not given).

    ``inventory`` is the pyinfra inventory whose hosts the lab runs (``lab/inventory.py``).
    """
    env = os.environ if environ is None else environ
    return LabConfig(
        lab_dir=Path(env.get("HOMELAB_LAB_DIR") or DEFAULT_LAB_DIR).resolve(),
        cache_dir=Path(env.get("HOMELAB_LAB_CACHE") or DEFAULT_CACHE_DIR).resolve(),
        subnet=parse_subnet(env.get("HOMELAB_LAB_SUBNET") or DEFAULT_SUBNET),
        inventory_file=(inventory or DEFAULT_INVENTORY).resolve(),
    )


# Reading an inventory ---------------------------------------------------------------------


def check_host_name(name: str, where: object) -> None:
    if not HOST_NAME.fullmatch(name):
        raise ConfigError(
            f"{where}: host name {name!r} is not a lowercase hostname (a-z, 0-9, '-'); "
            "the lab names the host's root, machine and cgroup after it"
        )


def inventory_hosts(namespace: Mapping[str, object]) -> dict[str, dict[str, Any]]:
    """Each host of a pyinfra inventory module's groups -> its data, in order of first listing.

    A group is a module-level list (not ``_private``) of ``(name, data)`` tuples or bare names;
    other values are left alone. A host listed in two groups is one host.
    """
    hosts: dict[str, dict[str, Any]] = {}
    for group, value in namespace.items():
        if group.startswith("_") or not isinstance(value, list) or not value:
            continue
        entries: list[tuple[str, dict[str, Any]]] = []
        for entry in value:
            if isinstance(entry, str):
                entries.append((entry, {}))
            elif (
                isinstance(entry, tuple)
                and len(entry) == 2
                and isinstance(entry[0], str)
                and isinstance(entry[1], dict)
            ):
                entries.append((entry[0], entry[1]))
            else:
                break
        else:
            for name, data in entries:
                hosts.setdefault(name, {}).update(data)
    return hosts


def read_inventory(path: Path) -> dict[str, dict[str, Any]]:
    """The hosts of the pyinfra inventory file ``path`` and their data (the file is run)."""
    if not path.is_file():
        raise ConfigError(f"no inventory at {path}; name the lab's with --inventory FILE")
    try:
        namespace = runpy.run_path(str(path))
    except Exception as exc:  # any fault of the file itself: said in one line
        raise ConfigError(
            f"could not read the inventory {path}: {type(exc).__name__}: {exc}"
        ) from exc
    return inventory_hosts(namespace)


def host_addresses(hosts: Mapping[str, Mapping[str, Any]], where: object) -> dict[str, str]:
    """Name -> ``ssh_hostname`` of each host; refused when a host has none or a bad name."""
    if not hosts:
        raise ConfigError(f"{where} lists no host")
    found: dict[str, str] = {}
    for name, data in hosts.items():
        check_host_name(name, where)
        address = data.get("ssh_hostname")
        if not isinstance(address, str) or not address:
            raise ConfigError(f"{where}: host {name!r} has no ssh_hostname")
        found[name] = address
    return found


def check_addresses(hosts: Mapping[str, str], subnet: ipaddress.IPv4Network, where: object) -> None:
    """Refuse an address the lab cannot give a host: outside its /24, the bridge's, or shared.

    The lab configures these addresses inside its hosts, so an inventory of real machines
    (``inventory.py``) must never pass.
    """
    gateway = subnet[GATEWAY_OFFSET]
    seen: dict[ipaddress.IPv4Address, str] = {}
    for name, text in hosts.items():
        try:
            address = ipaddress.IPv4Address(text)
        except ValueError:
            raise ConfigError(
                f"{where}: host {name!r} is at {text!r}, not an address of the lab's "
                f"{subnet}: the lab runs only its own hosts (lab/inventory.py)"
            ) from None
        if address not in subnet or address in (subnet.network_address, subnet.broadcast_address):
            raise ConfigError(
                f"{where}: host {name!r} is at {text}, outside the lab's {subnet}: "
                "the lab runs only its own hosts (lab/inventory.py); "
                "set HOMELAB_LAB_SUBNET alike for the inventory and the lab"
            )
        if address == gateway:
            raise ConfigError(f"{where}: host {name!r} is at {text}, the lab bridge's address")
        if address in seen:
            raise ConfigError(f"{where}: hosts {seen[address]!r} and {name!r} share {text}")
        seen[address] = name
