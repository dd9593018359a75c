"""Host file systems: the cached Debian base, one copy per host, and what makes each copy a host."""

from __future__ import annotations

import contextlib
import filecmp
import hashlib
import os
import re
import secrets
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from homelab.lab import aptsources
from homelab.lab.config import (
    BASE_LAYOUT_VERSION,
    BASE_PACKAGES,
    SUITE,
    LabConfig,
)
from homelab.lab.errors import LabError
from homelab.lab.mounts import mounts_under, unmount_under
from homelab.lab.system import SEARCH_PATH, CommandFailed, last_line, run

STAMP = ".homelab-lab-base"
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
#: Timers that would hold apt's lock in the middle of a deploy; the lab's hosts do without.
MASKED_UNITS = ("apt-daily.timer", "apt-daily-upgrade.timer")
MACHINE_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
MACHINE_LOCAL_CAS = Path("/usr/local/share/ca-certificates")
#: Lines the lab manages in each host's /etc/environment.
ENVIRONMENT = {
    # uv and requests carry their own roots; point them at the system bundle, which holds the
    # machine's CAs (outbound TLS here may pass an intercepting proxy).
    "SSL_CERT_FILE": "/etc/ssl/certs/ca-certificates.crt",
    "REQUESTS_CA_BUNDLE": "/etc/ssl/certs/ca-certificates.crt",
}
PEM_RE = re.compile(
    r"-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+?-----END CERTIFICATE-----", re.MULTILINE
)

Say = Callable[[str], None]


# Removing trees safely ------------------------------------------------------------------


def remove_tree(path: Path) -> None:
    """Delete ``path`` after unmounting whatever is mounted below it, never through a mount."""
    if not path.exists() and not path.is_symlink():
        return
    unmount_under([path])
    left = mounts_under([path])
    if left:
        raise LabError(
            f"cannot delete {path}: {left[0]} is still mounted below it",
            f"unmount it (umount -l {left[0]}) and retry",
        )
    # rm, not shutil.rmtree: a host's tree is deep and wide (venvs), and rmtree's descent
    # has failed half-way here with EMFILE; rm also stays on this file system.
    subprocess.run(["rm", "-rf", "--one-file-system", "--", str(path)], check=True)


# The base root ------------------------------------------------------------------------


def base_ready(config: LabConfig) -> bool:
    return (config.base_root / STAMP).is_file()


def debootstrap_argv(target: Path, mirror: str) -> list[str]:
    return [
        "debootstrap",
        "--variant=minbase",
        f"--include={','.join(BASE_PACKAGES)}",
        f"--keyring={KEYRING}",
        SUITE,
        str(target),
        mirror,
    ]


def chroot(root: Path, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run(["chroot", str(root), *argv], check=check, timeout=300)


def build_base(config: LabConfig, mirror: str, log: Path, say: Say) -> None:
    """debootstrap the base root into the cache, atomically: a killed build leaves no base."""
    config.cache_dir.mkdir(parents=True, exist_ok=True)
    for old in config.cache_dir.glob(".base-build-*"):
        remove_tree(old)
    work = config.cache_dir / f".base-build-{os.getpid()}"
    say(f"building the base root with debootstrap from {mirror} (about a minute)")
    started = time.monotonic()
    log.parent.mkdir(parents=True, exist_ok=True)
    try:
        with log.open("w") as out:
            proc = subprocess.run(
                debootstrap_argv(work, mirror),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PATH": SEARCH_PATH},
                timeout=1200,
                check=False,
            )
        if proc.returncode != 0:
            raise LabError(
                f"debootstrap failed ({last_line(log.read_text(errors='replace'))}); see {log}",
                f"check that this machine reaches {mirror} (apt-get update), then retry",
            )
        _finish_base(work)
        os.replace(work, config.base_root)
    except BaseException:
        remove_tree(work)
        raise
    say(f"base root ready in {time.monotonic() - started:.0f} s: {config.base_root}")


def _finish_base(root: Path) -> None:
    """What every host shares: networkd on, no per-host identity, no downloaded packages."""
    chroot(root, "systemctl", "enable", "systemd-networkd.service")
    chroot(root, "systemctl", "mask", *MASKED_UNITS)
    for key in (root / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    (root / "etc/machine-id").write_text("")
    for deb in (root / "var/cache/apt/archives").glob("*.deb"):
        deb.unlink()
    # Done once here, so a host made from the base has nothing to rehash.
    _sync_cas(root)
    (root / STAMP).write_text(
        f"suite={SUITE}\nlayout={BASE_LAYOUT_VERSION}\npackages={','.join(BASE_PACKAGES)}\n"
    )


# One copy per host ----------------------------------------------------------------------


def ensure_host_root(config: LabConfig, name: str, say: Say) -> bool:
    """Copy the base root for ``name`` unless it has one; True when it was made now."""
    target = config.host_root(name)
    if (target / STAMP).is_file():
        return False
    config.hosts_dir.mkdir(parents=True, exist_ok=True)
    work = config.hosts_dir / f".{name}.copy"
    remove_tree(work)
    remove_tree(target)
    say(f"{name}: copying the base root")
    try:
        run(["cp", "-a", "--reflink=auto", str(config.base_root), str(work)], timeout=600)
    except CommandFailed as exc:
        remove_tree(work)
        raise LabError(
            f"could not copy the base root for {name} ({exc.reason})",
            f"check free space under {config.hosts_dir} (df -h), then retry",
        ) from exc
    os.replace(work, target)
    return True


def destroy_host_root(config: LabConfig, name: str) -> bool:
    target = config.host_root(name)
    existed = target.exists()
    remove_tree(config.hosts_dir / f".{name}.copy")
    remove_tree(target)
    return existed


# Making a copy into a host ---------------------------------------------------------------


def _write(path: Path, text: str, mode: int = 0o644) -> bool:
    """Write ``text`` to ``path`` if it differs; True when it changed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        if path.read_text() == text:
            path.chmod(mode)
            return False
    path.write_text(text)
    path.chmod(mode)
    return True


def hosts_file(config: LabConfig) -> str:
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
    lines += [f"{address}\t{name}" for name, address in config.hosts.items()]
    return "\n".join(lines) + "\n"


NETWORK_FILE = "etc/systemd/network/10-homelab-lab.network"


def refresh_hosts_file(config: LabConfig, name: str) -> bool:
    """Rewrite a (possibly running) host's /etc/hosts for the lab's hosts now; True if it changed.

    A host root is a plain directory, so a running host sees the new file at once.
    """
    return _write(config.host_root(name) / "etc/hosts", hosts_file(config))


def configured_address(config: LabConfig, name: str) -> str | None:
    """The address ``name``'s root was last given (its networkd file), or None."""
    try:
        text = (config.host_root(name) / NETWORK_FILE).read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("Address="):
            return line.split("=", 1)[1].split("/", 1)[0].strip()
    return None


def network_file(config: LabConfig, name: str) -> str:
    # Read by systemd-networkd in the host, so the address survives a restart of the host's
    # systemd; sorted before the 80-container-host0.network that would ask for DHCP.
    return (
        "[Match]\nName=host0\n\n[Network]\n"
        f"Address={config.address(name)}/{config.subnet.prefixlen}\n"
        f"Gateway={config.gateway}\n"
        "LinkLocalAddressing=no\nIPv6AcceptRA=no\n"
    )


HOST_KEY = "etc/ssh/ssh_host_ed25519_key"
SSHD_CONFIG = (
    "# The lab's hosts: root logs in with the lab's key only.\n"
    f"HostKey /{HOST_KEY}\n"
    "PermitRootLogin prohibit-password\nPasswordAuthentication no\n"
    "KbdInteractiveAuthentication no\nUseDNS no\n"
)


def environment_file(current: str) -> str:
    kept = [
        line
        for line in current.splitlines()
        if line.split("=", 1)[0].strip() not in ENVIRONMENT and line.strip()
    ]
    return "\n".join([*kept, *(f"{k}={v}" for k, v in ENVIRONMENT.items())]) + "\n"


def pem_blocks(text: str) -> set[str]:
    return {"".join(block.split()) for block in PEM_RE.findall(text)}


def _sync_cas(root: Path) -> None:
    """Make the host trust every CA the machine trusts (its bundle and its local CAs)."""
    target = root / "usr/local/share/ca-certificates"
    changed = False
    if MACHINE_LOCAL_CAS.is_dir():
        for src in sorted(MACHINE_LOCAL_CAS.rglob("*.crt")):
            dst = target / src.relative_to(MACHINE_LOCAL_CAS)
            if not dst.exists() or not filecmp.cmp(src, dst, shallow=False):
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dst)
                changed = True
    host_bundle = root / "etc/ssl/certs/ca-certificates.crt"
    machine = MACHINE_BUNDLE.read_text(errors="replace") if MACHINE_BUNDLE.is_file() else ""
    have = host_bundle.read_text(errors="replace") if host_bundle.is_file() else ""
    if not changed and pem_blocks(machine) <= pem_blocks(have):
        return
    chroot(root, "update-ca-certificates")
    # CAs appended to the machine's bundle by hand have no file to copy: add them one by one.
    missing = pem_blocks(machine) - pem_blocks(host_bundle.read_text(errors="replace"))
    if missing:
        extra = target / "homelab-lab"
        extra.mkdir(parents=True, exist_ok=True)
        for block in PEM_RE.findall(machine):
            if "".join(block.split()) in missing:
                digest = hashlib.sha256("".join(block.split()).encode()).hexdigest()[:16]
                (extra / f"machine-{digest}.crt").write_text(block + "\n")
        chroot(root, "update-ca-certificates")


def _sync_apt(root: Path) -> None:
    stanzas = aptsources.debian_stanzas(aptsources.machine_stanzas(), SUITE)
    if stanzas:
        _write(root / "etc/apt/sources.list.d/debian.sources", aptsources.render(stanzas))
        with contextlib.suppress(FileNotFoundError):
            (root / "etc/apt/sources.list").unlink()
    for name, text in aptsources.acquire_settings().items():
        target = "90homelab-lab-apt.conf" if name == "apt.conf" else name
        _write(root / "etc/apt/apt.conf.d" / target, text)


def provision_host(config: LabConfig, name: str, client_pubkey: str) -> None:
    """Give a host root its identity, address, key, trust and apt setup (run before each boot)."""
    root = config.host_root(name)
    _write(root / "etc/hostname", f"{name}\n")
    _write(root / "etc/hosts", hosts_file(config))
    # The base has none, so each host gets its own (systemd and journald key on it).
    machine_id = root / "etc/machine-id"
    if not (machine_id.exists() and machine_id.read_text().strip()):
        _write(machine_id, secrets.token_hex(16) + "\n", 0o444)
    _write(root / NETWORK_FILE, network_file(config, name))
    ssh_dir = root / "root/.ssh"
    ssh_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    ssh_dir.chmod(0o700)
    _write(ssh_dir / "authorized_keys", client_pubkey.strip() + "\n", 0o600)
    _write(root / "etc/ssh/sshd_config.d/homelab-lab.conf", SSHD_CONFIG)
    if not (root / HOST_KEY).exists():
        # One ed25519 key (the only HostKey sshd is given): fast to make, and paramiko takes it.
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(root / HOST_KEY)])
    env_path = root / "etc/environment"
    current = env_path.read_text() if env_path.exists() else ""
    _write(env_path, environment_file(current))
    _sync_apt(root)
    _sync_cas(root)
    (config.uv_cache).mkdir(parents=True, exist_ok=True)
    (config.wheel_cache).mkdir(parents=True, exist_ok=True)


def host_public_keys(config: LabConfig, name: str) -> list[str]:
    """The host's SSH host keys (``TYPE BASE64``), for the lab's known_hosts file."""
    keys = []
    for pub in sorted((config.host_root(name) / "etc/ssh").glob("ssh_host_ed25519_key.pub")):
        parts = pub.read_text().split()
        if len(parts) >= 2:
            keys.append(f"{parts[0]} {parts[1]}")
    return keys
