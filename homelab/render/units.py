"""One daemon description, two init systems: a systemd unit on Linux, a launchd plist on macOS."""

from __future__ import annotations

import plistlib
from collections.abc import Callable

from homelab.model.service import Daemon, HostFile
from homelab.model.system import UNIT_MARK
from homelab.render.engine import render

#: Directives of the baseline a daemon may relax (with a reason); the rest are fixed.
RELAXABLE = {"PrivateDevices": "yes", "MemoryDenyWriteExecute": "yes", "ProcSubset": "pid"}


def hardening(daemon: Daemon) -> list[tuple[str, str, str | None]]:
    """(directive, value, why) for the relaxable directives, then any extra ones."""
    out: list[tuple[str, str, str | None]] = []
    for directive, default in RELAXABLE.items():
        relaxed = daemon.relax.get(directive)
        out.append(
            (directive, relaxed.value, relaxed.why) if relaxed else (directive, default, None)
        )
    for directive, relaxed in daemon.relax.items():
        if directive not in RELAXABLE:
            out.append((directive, relaxed.value, relaxed.why))
    return out


#: How long a reload waits for the old workers to finish their requests and leave.
RELOAD_WAIT_S = 30


def reload_command(workers: int) -> str:
    """``systemctl reload`` of a pre-forking server with ``workers`` workers (0: a process
    that reads its files again itself at SIGHUP, Prometheus's way).

    SIGHUP to the master, which forks new workers (they read the config) and stops the old
    ones; it returns once ``workers`` of the master's old children are gone, so what answers
    after it runs the new config. Counted, not all of them: the master may keep a helper child
    of its own that never leaves (LiteLLM's query-engine reaper). ``${MAINPID}`` is systemd's,
    ``$$`` a shell's ``$``. ``+``: outside the unit's sandbox; inside it the command runs in a
    user namespace of its own, where ``ProtectProc=invisible`` hid the workers from it.
    """
    if workers == 0:
        return "+/bin/kill -HUP ${MAINPID}"  # it reads its files again itself, in place
    return (
        "+/bin/sh -c 'old=$$(cat /proc/${MAINPID}/task/${MAINPID}/children); "
        "kill -HUP ${MAINPID}; "
        f"for i in $$(seq {RELOAD_WAIT_S * 10}); do gone=0; "
        "for p in $$old; do [ -d /proc/$$p ] || gone=$$((gone + 1)); done; "
        f"[ $$gone -ge {workers} ] && exit 0; sleep 0.1; done'"
    )


#: How long a handover may take to serve before the restart goes on without it (LiteLLM's
#: workers serve 10-30 s after their start on two busy cores).
HANDOVER_START_S = 60


def systemd_unit(daemon: Daemon, handover: bool = False) -> HostFile:
    """Its unit; ``handover``: its handover unit (the same process on its socket, started
    only while it restarts)."""
    content = render(
        "systemd/service.j2",
        daemon=daemon,
        this_unit=daemon.handover_unit if handover else daemon.unit,
        handover=handover,
        handover_start_s=HANDOVER_START_S,
        hardening=hardening(daemon),
        mark=UNIT_MARK,
        reload_command=reload_command(daemon.workers),
    )
    path = daemon.handover_path if handover else daemon.unit_path
    assert path is not None
    return HostFile(path=path, content=content, restarts=(daemon.name,))


def systemd_socket(daemon: Daemon) -> HostFile:
    """The ``.socket`` unit holding a socket-activated daemon's listener."""
    assert daemon.socket_path is not None
    content = render("systemd/socket.j2", daemon=daemon)
    return HostFile(path=daemon.socket_path, content=content, restarts=(daemon.name,))


def launchd_argv(daemon: Daemon) -> tuple[str, ...]:
    """launchd has no EnvironmentFile: a shell reads the secrets file, then becomes the daemon."""
    if not daemon.secrets_env:
        return daemon.argv
    script = 'set -a; . "$0"; set +a; exec "$@"'
    return ("/bin/sh", "-c", script, daemon.secrets_env, *daemon.argv)


#: Seconds launchd waits before it starts a daemon again after it exited. A server that crashes
#: at load (Metal out of memory) is started at most twice a minute instead of spinning.
THROTTLE_INTERVAL = 30


def launchd_plist(daemon: Daemon) -> HostFile:
    """The daemon's launchd job, written by plistlib; a comment marks it as rendered."""
    log = f"{daemon.layout.logs}/{daemon.name}.log"
    job: dict[str, object] = {
        "Label": daemon.unit,
        "ProgramArguments": list(launchd_argv(daemon)),
        "UserName": daemon.user,
    }
    if daemon.working_dir:
        job["WorkingDirectory"] = daemon.working_dir
    if daemon.environment:
        job["EnvironmentVariables"] = dict(sorted(daemon.environment.items()))
    if daemon.open_files:
        limit = {"NumberOfFiles": daemon.open_files}
        job |= {"SoftResourceLimits": limit, "HardResourceLimits": dict(limit)}
    job |= {
        "RunAtLoad": True,
        "KeepAlive": True,
        "ThrottleInterval": THROTTLE_INTERVAL,
        "Disabled": not daemon.enabled,
        "StandardOutPath": log,
        "StandardErrorPath": log,
    }
    text = plistlib.dumps(job, sort_keys=False).decode()
    note = f"<!-- {daemon.unit}: rendered from the platform model; edits here are overwritten. -->"
    head, plist, body = text.partition("<plist ")
    content = f"{head}{note}\n{plist}{body}"
    return HostFile(
        path=daemon.unit_path,
        content=content,
        group=daemon.system.root_group,
        restarts=(daemon.name,),
    )


#: How each init system's file for a daemon is written.
RENDERERS: dict[str, Callable[[Daemon], HostFile]] = {
    "systemd": systemd_unit,
    "launchd": launchd_plist,
}


def service_file(daemon: Daemon) -> HostFile:
    return RENDERERS[daemon.system.init.name](daemon)


def socket_files(daemon: Daemon) -> list[HostFile]:
    """Its ``.socket`` unit when it has one (launchd daemons bind for themselves), then its
    handover unit, which serves on that socket during a restart."""
    if not daemon.socket_path:
        return []
    handover = [systemd_unit(daemon, handover=True)] if daemon.handover_path else []
    return [systemd_socket(daemon), *handover]
