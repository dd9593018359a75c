"""The bridge from pyinfra's inventory to testinfra's hosts: one place, so the verify suite
reaches exactly the hosts the deploy reached, the same way (address, user, key, known hosts).

testinfra has no pyinfra backend; this turns each host's SSH data into a testinfra ``ssh://``
host, sharing one SSH connection per host for the whole run (ControlMaster).
"""

from __future__ import annotations

import hashlib
import shlex
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from homelab.load import load_inventory


@dataclass(frozen=True)
class HostSpec:
    #: The host's name in the inventory.
    role: str
    address: str
    user: str
    port: int
    key: str | None
    known_hosts: str | None
    strict: str | None

    @property
    def hostspec(self) -> str:
        return f"ssh://{self.user}@{self.address}:{self.port}"

    def options(self) -> dict[str, Any]:
        """Keyword arguments for ``testinfra.get_host``."""
        extra = ["-o BatchMode=yes"]
        if self.known_hosts:
            extra.append(f"-o UserKnownHostsFile={shlex.quote(self.known_hosts)}")
        if self.strict:
            extra.append(f"-o StrictHostKeyChecking={self.strict}")
        digest = hashlib.sha256(self.hostspec.encode()).hexdigest()[:12]
        control = Path(tempfile.gettempdir()) / f"homelab-verify-{digest}"
        return {
            "ssh_identity_file": self.key,
            "ssh_extra_args": " ".join(extra),
            "controlpath": str(control),
            "controlpersist": 120,
            # Secrets files and every process's sockets are root's to read.
            "sudo": self.user != "root",
        }


def _strict(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def host_specs(inventory: Path | str) -> dict[str, HostSpec]:
    """Each host's SSH access, by name, read from the same inventory and data pyinfra uses."""
    inv = load_inventory(inventory)
    specs: dict[str, HostSpec] = {}
    for host in inv:
        role = host.name
        data = host.data
        specs[role] = HostSpec(
            role=role,
            address=str(data.get("ssh_hostname") or host.name),
            user=str(data.get("ssh_user") or "root"),
            port=int(data.get("ssh_port") or 22),
            key=data.get("ssh_key"),
            known_hosts=data.get("ssh_known_hosts_file"),
            strict=_strict(data.get("ssh_strict_host_key_checking")),
        )
    return specs


def testinfra_hosts(inventory: Path | str) -> dict[str, Any]:
    import testinfra

    return {
        role: testinfra.get_host(spec.hostspec, **spec.options())
        for role, spec in host_specs(inventory).items()
    }
