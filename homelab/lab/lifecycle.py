"""``up``, ``down``, ``destroy`` and ``status``: the lab as a whole, made and unmade in order."""

from __future__ import annotations

import fcntl
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from homelab.lab import aptsources, cgroups, machine, network, procs, rootfs, ssh
from homelab.lab import state as statefile
from homelab.lab.config import (
    HOST_NAMES,
    MACHINE_COMMANDS,
    MACHINE_FILES,
    SSH_PORT,
    SSH_USER,
    SUITE,
    UV_CACHE_IN_HOST,
    LabConfig,
)
from homelab.lab.errors import LabError
from homelab.lab.machine import SystemState
from homelab.lab.mounts import unmount_under
from homelab.lab.state import HostRun, LabState, StateError
from homelab.lab.system import check_namespaces, ensure_packages, require_root

Say = Callable[[str], None]
#: The version of ``status --json``; bumped only when a field changes meaning or goes away.
STATUS_SCHEMA = 1


def _quiet(_message: str) -> None:
    return None


@contextmanager
def _locked(config: LabConfig) -> Iterator[None]:
    """One lab command at a time: two ``up`` at once would fight over the bridge."""
    config.lab_dir.mkdir(parents=True, exist_ok=True)
    with config.lock_file.open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise LabError(
                f"another homelab lab command is running (it holds {config.lock_file})",
                "wait for it to finish, then retry",
            ) from exc
        yield


def _read_state(config: LabConfig, say: Say) -> LabState | None:
    try:
        return statefile.load(config.state_file)
    except StateError as exc:
        say(f"ignoring an unreadable state file {config.state_file} ({exc})")
        return None


def _check_no_other_lab(config: LabConfig) -> None:
    """Refuse to touch a bridge that a lab kept elsewhere (another HOMELAB_LAB_DIR) is using."""
    ours = f"{config.hosts_dir}/"
    for proc in procs.nspawn_processes():
        if proc.bridge == config.bridge and not proc.directory.startswith(ours):
            raise LabError(
                f"another lab is up on bridge {config.bridge} (nspawn {proc.pid} runs "
                f"{proc.directory})",
                "stop it first with its own HOMELAB_LAB_DIR: HOMELAB_LAB_DIR=... homelab lab down",
            )


# Taking a lab apart -------------------------------------------------------------------


@dataclass
class Cleanup:
    """What taking a lab apart found and removed."""

    processes: int = 0
    rules: int = 0
    bridge: bool = False
    mounts: list[str] = field(default_factory=list)
    state_file: bool = False

    @property
    def empty(self) -> bool:
        return not (self.processes or self.rules or self.bridge or self.mounts or self.state_file)

    def summary(self) -> str:
        parts = []
        if self.processes:
            parts.append(f"stopped {self.processes} process(es)")
        if self.bridge:
            parts.append("removed the bridge")
        if self.rules:
            parts.append(f"removed {self.rules} iptables rule(s)")
        if self.mounts:
            parts.append(f"unmounted {len(self.mounts)} mount(s)")
        if self.state_file:
            parts.append("removed the state file")
        return ", ".join(parts) or "nothing to do"


def teardown(config: LabConfig, state: LabState | None) -> Cleanup:
    """Stop the hosts and undo everything on the machine, whether the state file knows it or not.

    Host file systems and the cache are kept.
    """
    cleanup = Cleanup()
    nspawns = {p.pid for p in procs.lab_nspawns(config.hosts_dir)}
    if state is not None:
        nspawns |= {
            run.nspawn_pid
            for run in state.hosts.values()
            if procs.is_alive(run.nspawn_pid, run.nspawn_start)
        }
    orphans = [pid for pid in procs.lab_inits(config.hosts_dir) if procs.parent(pid) not in nspawns]
    cleanup.processes = machine.stop(nspawns, orphans)
    cgroups.remove_all()
    machine.remove_runtime_dirs()
    cleanup.rules = network.remove_tagged_rules()
    cleanup.bridge = network.delete_bridge(config.bridge)
    cleanup.mounts = unmount_under(config.owned_dirs)
    if state is not None and state.ip_forward_before == "0":
        network.set_ip_forward("0")
    cleanup.state_file = config.state_file.exists()
    statefile.remove(config.state_file)
    return cleanup


# Bringing a lab up ----------------------------------------------------------------------


def _healthy(state: LabState, config: LabConfig) -> bool:
    """True when the state names both hosts, their processes run, and the bridge is there."""
    return (
        set(state.hosts) == set(HOST_NAMES)
        and all(machine.alive(run) for run in state.hosts.values())
        and network.bridge_exists(config.bridge)
    )


def _start(config: LabConfig, say: Say, ip_forward_before: str | None) -> dict[str, HostRun]:
    if not rootfs.base_ready(config):
        mirror = aptsources.mirror(aptsources.machine_stanzas(), SUITE)
        rootfs.build_base(config, mirror, config.log_dir / "debootstrap.log", say)
    pubkey = ssh.ensure_client_key(config)

    def prepare(name: str) -> None:
        rootfs.ensure_host_root(config, name, say)
        rootfs.provision_host(config, name, pubkey)

    # The hosts' copies are independent: make them side by side.
    with ThreadPoolExecutor(max_workers=len(HOST_NAMES)) as pool:
        for future in [pool.submit(prepare, name) for name in HOST_NAMES]:
            future.result()
    ssh.write_client_files(config, {n: rootfs.host_public_keys(config, n) for n in HOST_NAMES})
    before = ip_forward_before or network.ip_forward()
    lab = LabState(bridge=config.bridge, subnet=str(config.subnet), ip_forward_before=before)
    # Saved before anything is made, so a crash from here on leaves a file that says so.
    statefile.save(config.state_file, lab)
    network.set_ip_forward("1")
    network.create_bridge(config)
    network.add_rules(config)
    runs: dict[str, HostRun] = {}
    for name in HOST_NAMES:
        say(f"{name}: booting at {config.address(name)}")
        runs[name] = machine.boot(config, name)
        lab = LabState(lab.bridge, lab.subnet, dict(runs), lab.ip_forward_before)
        statefile.save(config.state_file, lab)
    return runs


def _not_running_error(config: LabConfig, states: dict[str, SystemState]) -> LabError:
    bad = [s for s in states.values() if not s.running]
    problem = "; ".join(
        f"{s.name} is {s.state}" + (f" ({s.detail})" if s.detail else "") for s in bad
    )
    return LabError(
        problem,
        f"see {config.log_dir}/HOST.log, or look inside with homelab lab ssh HOST "
        "(homelab lab up --keep-on-failure keeps a failed boot up)",
    )


def preflight(config: LabConfig, action: str, say: Say) -> None:
    """The checks made before anything is made: what fails here leaves the machine untouched."""
    require_root(action)
    check_namespaces()
    installed = ensure_packages(MACHINE_COMMANDS, MACHINE_FILES, say=say)
    if installed:
        say(f"installed {' '.join(installed)}")


def up(
    config: LabConfig,
    say: Say = _quiet,
    *,
    timeout: float = 120,
    keep_on_failure: bool = False,
) -> dict[str, SystemState]:
    """Bring both hosts up (or leave them up); return each host's systemd state."""
    preflight(config, "up", say)
    with _locked(config):
        _check_no_other_lab(config)
        network.check_subnet_free(config)
        old = _read_state(config, say)
        if old is not None and _healthy(old, config):
            states = machine.wait_running(config, old.hosts, timeout)
            if all(s.running for s in states.values()):
                say("the lab is already up")
                return states
            raise _not_running_error(config, states)
        cleanup = teardown(config, old)
        if not cleanup.empty:
            say(f"cleaned up what an earlier lab left: {cleanup.summary()}")
        try:
            runs = _start(config, say, old.ip_forward_before if old else None)
            states = machine.wait_running(config, runs, timeout)
        except BaseException:
            teardown(config, _read_state(config, _quiet))
            raise
        if not all(s.running for s in states.values()):
            error = _not_running_error(config, states)
            if not keep_on_failure:
                teardown(config, _read_state(config, _quiet))
            raise error
        return states


def down(config: LabConfig, say: Say = _quiet) -> Cleanup:
    require_root("down")
    with _locked(config):
        _check_no_other_lab(config)
        cleanup = teardown(config, _read_state(config, say))
    say(f"the lab is down: {cleanup.summary()}")
    return cleanup


def destroy(config: LabConfig, names: Sequence[str], say: Say = _quiet) -> list[str]:
    """Take the lab down, then delete the named hosts' file systems (all when none is named)."""
    require_root("destroy")
    targets = list(names) or list(HOST_NAMES)
    for name in targets:
        if name not in HOST_NAMES:
            raise LabError(f"no lab host is named {name!r}", f"name one of {', '.join(HOST_NAMES)}")
    with _locked(config):
        _check_no_other_lab(config)
        cleanup = teardown(config, _read_state(config, say))
        say(f"the lab is down: {cleanup.summary()}")
        deleted = [name for name in targets if rootfs.destroy_host_root(config, name)]
    say(f"deleted the file system of: {', '.join(deleted) or 'none (there was none)'}")
    return deleted


# Status -----------------------------------------------------------------------------------


def host_processes(config: LabConfig, name: str) -> tuple[int | None, int | None]:
    """``name``'s nspawn PID and container init PID, found on the machine (not in the state)."""
    root = str(config.host_root(name))
    nspawn = next(
        (p.pid for p in procs.lab_nspawns(config.hosts_dir) if p.directory.rstrip("/") == root),
        None,
    )
    init = next((pid for pid, r in procs.lab_inits(config.hosts_dir).items() if r == root), None)
    return nspawn, init


def status(config: LabConfig) -> dict[str, Any]:
    """The lab as ``status --json`` prints it (see docs/LAB.md for the fields)."""
    require_root("status")
    hosts: dict[str, Any] = {}
    for name in HOST_NAMES:
        pid, init_pid = host_processes(config, name)
        # An init without its nspawn (a killed lab) still answers, but the lab is not up.
        systemd = machine.system_state(config, name).state if init_pid else "stopped"
        hosts[name] = {
            "name": name,
            "address": config.address(name),
            "ssh_user": SSH_USER,
            "ssh_port": SSH_PORT,
            "ssh_key": str(config.ssh_key),
            "systemd": systemd,
            "running": systemd == "running" and pid is not None,
            "pid": pid,
            "init_pid": init_pid,
            "root": str(config.host_root(name)),
            "uv_cache_dir": UV_CACHE_IN_HOST,
        }
    return {
        "schema": STATUS_SCHEMA,
        "up": all(h["running"] for h in hosts.values()),
        "bridge": config.bridge,
        "bridge_present": network.bridge_exists(config.bridge),
        "subnet": str(config.subnet),
        "gateway": config.gateway,
        "ssh_config": str(config.ssh_config),
        "known_hosts": str(config.known_hosts),
        "lab_dir": str(config.lab_dir),
        "cache_dir": str(config.cache_dir),
        "uv_cache": str(config.uv_cache),
        "hosts": hosts,
    }
