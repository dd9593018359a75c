"""``up``, ``down``, ``destroy`` and ``status``: the lab as a whole, made and unmade in order."""

from __future__ import annotations

import fcntl
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from homelab.lab import aptsources, cgroups, machine, network, procs, rootfs, ssh
from homelab.lab import state as statefile
from homelab.lab.config import (
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


def _stop_hosts(config: LabConfig, names: Sequence[str], state: LabState | None) -> int:
    """Stop some hosts while the others run on; return how many processes were stopped."""
    nspawns: set[int] = set()
    orphans: list[int] = []
    for name in names:
        nspawn, init = host_processes(config, name)
        run = state.hosts.get(name) if state is not None else None
        if run is not None and procs.is_alive(run.nspawn_pid, run.nspawn_start):
            nspawn = run.nspawn_pid
        if nspawn is not None:
            nspawns.add(nspawn)
        elif init is not None:
            orphans.append(init)
    stopped = machine.stop(nspawns, orphans)
    for name in names:
        cgroups.remove_host(name)
    machine.remove_runtime_dirs(names)
    return stopped


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
    machine.remove_runtime_dirs({*host_roots(config), *(state.hosts if state else ())})
    cleanup.rules = network.remove_tagged_rules()
    cleanup.bridge = network.delete_bridge(config.bridge)
    cleanup.mounts = unmount_under(config.owned_dirs)
    if state is not None and state.ip_forward_before == "0":
        network.set_ip_forward("0")
    cleanup.state_file = config.state_file.exists()
    statefile.remove(config.state_file)
    return cleanup


# Bringing a lab up ----------------------------------------------------------------------


def _reusable(state: LabState, config: LabConfig) -> bool:
    """True when the lab the state names runs as it says: its hosts can stay up.

    A host whose processes are all gone (killed, as a machine loses power) does not stop the
    others staying up: ``_update`` boots it again. Any process of the lab's that the state does
    not name (a host it lost track of) means the lab is taken apart and started afresh instead.
    """
    named = {run.nspawn_pid for run in state.hosts.values() if machine.alive(run)}
    return (
        bool(named)
        and state.bridge == config.bridge
        and state.subnet == str(config.subnet)
        and {p.pid for p in procs.lab_nspawns(config.hosts_dir)} == named
        and all(procs.parent(pid) in named for pid in procs.lab_inits(config.hosts_dir))
        and network.bridge_exists(config.bridge)
    )


@dataclass(frozen=True)
class Changes:
    """What ``up`` does to a running lab so that it runs the inventory's hosts."""

    #: Running at the address the inventory gives them: left running.
    kept: list[str]
    #: Running, but not listed or listed at another address: stopped (the root is kept).
    leaving: list[str]
    #: Listed and not kept: booted.
    joining: list[str]

    @property
    def none(self) -> bool:
        return not (self.leaving or self.joining)


def changes(running: Mapping[str, str | None], wanted: Mapping[str, str]) -> Changes:
    """``running`` maps each running host to its address, ``wanted`` each listed host to its."""
    kept = [name for name in wanted if name in running and running[name] == wanted[name]]
    return Changes(
        kept=kept,
        leaving=[name for name in running if name not in kept],
        joining=[name for name in wanted if name not in kept],
    )


def _recorded_address(config: LabConfig, run: HostRun) -> str | None:
    # A state file from before addresses were kept: the root says what the host was given.
    return run.address or rootfs.configured_address(config, run.name)


def _prepare(config: LabConfig, names: Sequence[str], say: Say) -> None:
    """Make and provision the roots of hosts about to boot; the base first if there is none."""
    if not names:
        return
    if not rootfs.base_ready(config):
        mirror = aptsources.mirror(aptsources.machine_stanzas(), SUITE)
        rootfs.build_base(config, mirror, config.log_dir / "debootstrap.log", say)
    pubkey = ssh.ensure_client_key(config)

    def prepare(name: str) -> None:
        rootfs.ensure_host_root(config, name, say)
        rootfs.provision_host(config, name, pubkey)

    # The hosts' copies are independent: make them side by side.
    with ThreadPoolExecutor(max_workers=len(names)) as pool:
        for future in [pool.submit(prepare, name) for name in names]:
            future.result()


def _write_ssh_files(config: LabConfig) -> None:
    keys = {name: rootfs.host_public_keys(config, name) for name in config.hosts}
    ssh.write_client_files(config, keys)


def _boot(config: LabConfig, names: Sequence[str], lab: LabState, say: Say) -> LabState:
    """Boot ``names`` one after another, saving the state after each; the state with them."""
    for name in names:
        say(f"{name}: booting at {config.address(name)}")
        run = machine.boot(config, name)
        lab = replace(lab, hosts={**lab.hosts, name: run})
        statefile.save(config.state_file, lab)
    return lab


def _start(config: LabConfig, say: Say, ip_forward_before: str | None) -> dict[str, HostRun]:
    names = list(config.hosts)
    _prepare(config, names, say)
    _write_ssh_files(config)
    before = ip_forward_before or network.ip_forward()
    lab = LabState(bridge=config.bridge, subnet=str(config.subnet), ip_forward_before=before)
    # Saved before anything is made, so a crash from here on leaves a file that says so.
    statefile.save(config.state_file, lab)
    network.set_ip_forward("1")
    network.create_bridge(config)
    network.add_rules(config)
    return _boot(config, names, lab, say).hosts


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


def _update(
    config: LabConfig, old: LabState, say: Say, *, timeout: float, keep_on_failure: bool
) -> dict[str, SystemState]:
    """Make a running lab run the inventory's hosts, leaving the hosts it keeps running.

    A host the inventory no longer lists, or lists at another address, is stopped (its root
    kept); a host it newly lists is booted. The hosts kept get the new /etc/hosts in place.
    """
    wanted = config.hosts
    lost = [name for name, run in old.hosts.items() if not machine.alive(run)]
    if lost:
        say(f"{', '.join(lost)}: its processes are gone; clearing what they left")
        _stop_hosts(config, lost, old)
        old = replace(old, hosts={n: r for n, r in old.hosts.items() if n not in lost})
        statefile.save(config.state_file, old)
    running = {name: _recorded_address(config, run) for name, run in old.hosts.items()}
    plan = changes(running, wanted)
    # Each kept host's record gets its address (a state file from before had none).
    kept = {name: replace(old.hosts[name], address=wanted[name]) for name in plan.kept}
    leaving, joining = plan.leaving, plan.joining
    if plan.none:
        states = machine.wait_running(config, kept, timeout)
        if all(s.running for s in states.values()):
            say("the lab is already up")
            return states
        raise _not_running_error(config, states)
    for name in leaving:
        why = (
            f"its address moves to {wanted[name]}"
            if name in wanted
            else f"{config.inventory_file} no longer lists it; its root is kept"
        )
        say(f"{name}: stopping ({why})")
    _stop_hosts(config, leaving, old)
    lab = replace(old, hosts=kept)
    statefile.save(config.state_file, lab)

    def take_back() -> None:
        # Only what this up booted: the hosts that were running stay as they were.
        now = _read_state(config, _quiet) or lab
        _stop_hosts(config, joining, now)
        statefile.save(config.state_file, replace(now, hosts=kept))

    try:
        # Idempotent: a rule or the forwarding lost since the last up comes back.
        network.set_ip_forward("1")
        network.add_rules(config)
        _prepare(config, joining, say)
        for name in kept:
            rootfs.refresh_hosts_file(config, name)
        _write_ssh_files(config)
        lab = _boot(config, joining, lab, say)
        states = machine.wait_running(config, {n: lab.hosts[n] for n in wanted}, timeout)
    except BaseException:
        take_back()
        raise
    if not all(s.running for s in states.values()):
        error = _not_running_error(config, states)
        if not keep_on_failure and any(not states[n].running for n in joining):
            take_back()
        raise error
    return states


def up(
    config: LabConfig,
    say: Say = _quiet,
    *,
    timeout: float = 120,
    keep_on_failure: bool = False,
) -> dict[str, SystemState]:
    """Run every host the inventory lists (booting or stopping only what changed).

    Returns each listed host's systemd state, in the inventory's order.
    """
    preflight(config, "up", say)
    # Read before anything is made, so a bad inventory stops up with the machine untouched.
    listed = config.hosts
    with _locked(config):
        _check_no_other_lab(config)
        network.check_subnet_free(config)
        old = _read_state(config, say)
        if old is not None and _reusable(old, config):
            return _update(config, old, say, timeout=timeout, keep_on_failure=keep_on_failure)
        cleanup = teardown(config, old)
        if not cleanup.empty:
            say(f"cleaned up what an earlier lab left: {cleanup.summary()}")
        try:
            runs = _start(config, say, old.ip_forward_before if old else None)
            states = machine.wait_running(config, {n: runs[n] for n in listed}, timeout)
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
    """Delete the named hosts' file systems (every one when none is), the lab taken down first
    unless none of them runs (hosts the inventory no longer lists, stopped by ``up``)."""
    require_root("destroy")
    known = host_names(config)
    targets = list(names) or known
    for name in targets:
        if name not in known:
            raise LabError(
                f"no lab host is named {name!r}", f"name one of {', '.join(known) or '(none)'}"
            )
    with _locked(config):
        _check_no_other_lab(config)
        running = set(running_hosts(config))
        if names and not set(targets) & running:
            # Hosts the lab no longer runs (a host dropped from the inventory): their roots go,
            # the hosts still running stay up.
            say(f"{', '.join(targets)}: not running; the rest of the lab stays up")
        else:
            cleanup = teardown(config, _read_state(config, say))
            say(f"the lab is down: {cleanup.summary()}")
        deleted = [name for name in targets if rootfs.destroy_host_root(config, name)]
    say(f"deleted the file system of: {', '.join(deleted) or 'none (there was none)'}")
    return deleted


# Which hosts the lab has ------------------------------------------------------------------


def host_roots(config: LabConfig) -> list[str]:
    """The hosts the lab has a root for, listed in the inventory or not."""
    try:
        entries = list(config.hosts_dir.iterdir())
    except OSError:
        return []
    return sorted(p.name for p in entries if p.is_dir() and not p.name.startswith("."))


def running_hosts(config: LabConfig) -> list[str]:
    """The hosts with a lab process on the machine (an nspawn, or an init left by one)."""
    roots = [p.directory for p in procs.lab_nspawns(config.hosts_dir)]
    roots += list(procs.lab_inits(config.hosts_dir).values())
    parts = [Path(root).relative_to(config.hosts_dir).parts for root in roots]
    return sorted({found[0] for found in parts if found})


def host_names(config: LabConfig) -> list[str]:
    """Every host a command may name: the inventory's in its order, then any other that runs
    or has a root (a host the inventory no longer lists)."""
    listed = list(config.hosts)
    others = {*running_hosts(config), *host_roots(config)} - set(listed)
    return [*listed, *sorted(others)]


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
    listed = config.hosts
    state = _read_state(config, _quiet)
    # A host that runs but is no longer listed (up stops it) is shown too, after the others.
    unlisted = [name for name in running_hosts(config) if name not in listed]
    hosts: dict[str, Any] = {}
    for name in [*listed, *unlisted]:
        pid, init_pid = host_processes(config, name)
        run = state.hosts.get(name) if state is not None else None
        address = listed.get(name) or (run.address if run else None)
        address = address or rootfs.configured_address(config, name)
        # An init without its nspawn (a killed lab) still answers, but the lab is not up.
        systemd = machine.system_state(config, name).state if init_pid else "stopped"
        hosts[name] = {
            "name": name,
            "address": address,
            "ssh_user": SSH_USER,
            "ssh_port": SSH_PORT,
            "ssh_key": str(config.ssh_key),
            "systemd": systemd,
            "running": systemd == "running" and pid is not None,
            "pid": pid,
            "init_pid": init_pid,
            "root": str(config.host_root(name)),
            "uv_cache_dir": UV_CACHE_IN_HOST,
            "listed": name in listed,
        }
    return {
        "schema": STATUS_SCHEMA,
        "up": all(h["running"] for h in hosts.values() if h["listed"]),
        "bridge": config.bridge,
        "bridge_present": network.bridge_exists(config.bridge),
        "subnet": str(config.subnet),
        "gateway": config.gateway,
        "ssh_config": str(config.ssh_config),
        "known_hosts": str(config.known_hosts),
        "lab_dir": str(config.lab_dir),
        "cache_dir": str(config.cache_dir),
        "uv_cache": str(config.uv_cache),
        "inventory": str(config.inventory_file),
        "hosts": hosts,
    }
