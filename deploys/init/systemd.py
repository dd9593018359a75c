"""Activating a daemon under systemd: units reloaded, started, restarted or reloaded only on a
change of their own inputs, disabled ones kept stopped, socket units holding ports."""

from __future__ import annotations

from pyinfra.api.operation import OperationMeta
from pyinfra.operations import server, systemd
from pyinfra.operations.util import any_changed

from deploys.state import current, exists
from deploys.waits import Changed, to_wait_for
from homelab.model import Daemon

#: systemd's own parser on a candidate unit. ``systemd-analyze verify`` exits 0 on a directive
#: it cannot parse (it logs "ignoring" and drops it); any line naming the candidate counts as a
#: refusal here.
UNIT_CHECK = (
    "out=$(systemd-analyze verify {path} 2>&1); rc=$?; printf '%s\\n' \"$out\" >&2; "
    "[ $rc -eq 0 ] && ! printf '%s' \"$out\" | grep -qF {path}"
)


def activate(
    daemon: Daemon,
    unit: Changed,
    changes: list[OperationMeta],
    socket: Changed,
    reloads: list[OperationMeta],
) -> None:
    systemd.daemon_reload(name="Reload systemd units", _if=lambda: unit() or socket())
    if not daemon.enabled:
        keep_stopped(daemon.unit, "stopped")
        if daemon.socket_path:
            keep_stopped(daemon.socket_unit, "closed")
        return
    if daemon.socket_path:
        # A new or changed socket, or one not listening, takes the port over: the process
        # holding it stops first. (A deploy of data without the socket leaves its unit file
        # behind, closed, and the service binding the port itself.)
        held = current().running_and_enabled(daemon.socket_unit)
        server.shell(
            name=f"Hand port {daemon.listener.port} to {daemon.socket_unit} "
            + ("(its unit changed)" if held else "(it is not listening)"),
            commands=[
                f"if systemctl is-active -q {daemon.unit}; then systemctl stop {daemon.unit}; fi",
                f"systemctl enable {daemon.socket_unit}",
                f"systemctl restart {daemon.socket_unit}",
            ],
            _if=lambda: socket() or not held,
        )
    elif daemon.socket_unit_path and exists(daemon.socket_unit_path):
        # An earlier deploy's socket still holds the port, and would start the daemon again.
        server.shell(
            name=f"Close {daemon.socket_unit} (the data no longer holds the port there)",
            commands=[
                f"systemctl disable --now {daemon.socket_unit}",
                f"rm -f {daemon.socket_unit_path}",
                "systemctl daemon-reload",
            ],
        )

    def restart_needed() -> bool:
        return unit() or socket() or any_changed(*changes)()

    if daemon.handover_path and current().active(daemon.unit):
        # systemd stops the old process before it starts the new one; the handover serves on
        # the same socket meanwhile (its start returns once it serves, and so does the
        # restart's), so a request in flight that calls back through the port is answered
        # instead of waiting out the stop. A handover that does not serve in time is stopped
        # and the restart goes on without it: requests wait on the socket, as they would.
        restart = server.shell(
            name=f"Restart {daemon.unit} (its files changed)",
            commands=[
                f"systemctl start {daemon.handover_unit} || "
                f"echo '{daemon.handover_unit} did not serve: restarting without it' >&2",
                f"systemctl restart {daemon.unit}",
                f"systemctl stop {daemon.handover_unit}",
            ],
            _if=restart_needed,
        )
    else:
        restart = systemd.service(
            name=f"Restart {daemon.unit} (its files changed)",
            service=daemon.unit,
            running=True,
            restarted=True,
            _if=restart_needed,
        )
    started: list[OperationMeta] = [restart]
    if reloads and current().active(daemon.unit):
        # New workers read the new config while the old ones finish what they have: a
        # request in flight that calls back through this daemon (OptiLLM's) is answered by
        # the new ones, where a restart would stop the old process before any new one runs.
        started.append(
            systemd.service(
                name=f"Reload {daemon.unit} (its config changed)",
                service=daemon.unit,
                running=True,
                reloaded=True,
                _if=lambda: any_changed(*reloads)() and not restart_needed(),
            )
        )
    if not current().running_and_enabled(daemon.unit):
        started.append(
            systemd.service(
                name=f"{daemon.unit} running and enabled at boot",
                service=daemon.unit,
                running=True,
                enabled=True,
            )
        )
    to_wait_for(daemon, any_changed(*started))


def keep_stopped(unit: str, state: str) -> None:
    """A unit the data switched off: stopped and disabled (no facts asked when the snapshot
    shows it so already)."""
    if current().stopped_and_disabled(unit):
        return
    systemd.service(
        name=f"Keep {unit} {state} (disabled in the data)",
        service=unit,
        running=False,
        enabled=False,
    )
