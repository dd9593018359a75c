"""SSH to the lab's hosts: the lab's key, its known_hosts, an ssh_config, and command lines."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence

from homelab.lab.config import SSH_PORT, SSH_USER, LabConfig
from homelab.lab.errors import LabError
from homelab.lab.system import CommandFailed, run


def ensure_client_key(config: LabConfig) -> str:
    """Make the lab's SSH key pair if it has none; return the public key."""
    config.ssh_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    config.ssh_dir.chmod(0o700)
    key = config.ssh_key
    if not key.exists() or not key.with_suffix(".pub").exists():
        key.unlink(missing_ok=True)
        key.with_suffix(".pub").unlink(missing_ok=True)
        try:
            run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "homelab-lab", "-f", str(key)]
            )
        except CommandFailed as exc:
            raise LabError(
                f"could not make the lab's SSH key {key} ({exc.reason})",
                f"check that {config.ssh_dir} is writable, then retry",
            ) from exc
    return key.with_suffix(".pub").read_text().strip()


def known_hosts_text(config: LabConfig, host_keys: Mapping[str, Sequence[str]]) -> str:
    """known_hosts lines naming each host by name and address, so either form is checked."""
    lines = []
    for name, address in config.hosts.items():
        for key in host_keys.get(name, ()):
            lines.append(f"{name},{address} {key}")
    return "\n".join(lines) + "\n"


def ssh_config_text(config: LabConfig) -> str:
    blocks = []
    for name, address in config.hosts.items():
        blocks.append(
            f"Host {name} {address}\n"
            f"    HostName {address}\n"
            f"    Port {SSH_PORT}\n"
            f"    User {SSH_USER}\n"
            f"    IdentityFile {config.ssh_key}\n"
            "    IdentitiesOnly yes\n"
            f"    UserKnownHostsFile {config.known_hosts}\n"
            "    StrictHostKeyChecking yes\n"
            "    GlobalKnownHostsFile /dev/null\n"
            "    LogLevel ERROR\n"
        )
    return "\n".join(blocks)


def write_client_files(config: LabConfig, host_keys: Mapping[str, Sequence[str]]) -> None:
    config.ssh_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    config.known_hosts.write_text(known_hosts_text(config, host_keys))
    config.ssh_config.write_text(ssh_config_text(config))


def ssh_argv(
    config: LabConfig,
    name: str,
    command: Sequence[str] = (),
    *,
    tty: bool = False,
    connect_timeout: int = 5,
) -> list[str]:
    """An ``ssh`` command line for ``name`` that reads only the lab's ssh_config."""
    argv = ["ssh", "-F", str(config.ssh_config), "-o", f"ConnectTimeout={connect_timeout}"]
    argv += ["-o", "BatchMode=yes"] if not tty else ["-t"]
    return [*argv, name, *command]


def ssh_run(
    config: LabConfig, name: str, command: str, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    """Run ``command`` (a shell line) on ``name``; exit code 255 means ssh itself failed."""
    try:
        return run(ssh_argv(config, name, [command]), check=False, timeout=timeout)
    except CommandFailed as exc:
        return subprocess.CompletedProcess(exc.argv, exc.returncode, "", exc.output)
