"""The first deploy onto a hand-built homelab: nothing lost, nothing clashing, and a way back.

The lab is first put in the state the real hosts are in before the first deploy, built from the
platform's own converged lab (the cheapest honest "before"):

- on the gateway's host (the Mini), the login user the legacy units ran as, and as that user
  ``litellm-orch.service`` (LiteLLM on 0.0.0.0:4000 from a venv in its home: a link to the
  lab's LiteLLM venv, the lab's router config copied beside it), ``optillm-proxy.service`` on
  127.0.0.1:4020 (a python http.server standing in for OptiLLM), and ``open-webui.service`` of
  the same name as the platform's, running Open WebUI from a venv in its home (a link to the
  lab's) on the legacy data directory: the platform's own Open WebUI data, with a user and a
  chat made through its API, moved there; the platform's units of those three stopped, disabled;
- on each host whose legacy setup served MLX models (the Studio; a host the lab adds has none),
  one unit of the legacy job's label serving the MLX ports (http.server), the platform's MLX
  servers stopped and disabled.

Then the deploy: no failed step, the legacy units inactive and disabled, their files kept, the
user signs in with the old password and finds the chat, a second deploy changes nothing, verify
green. Then the way back (``homelab way-back``), and the lab is put back as it was: taken over
again, the legacy units and the login user removed, converged.

A probe on the gateway's host records when its port has a listener; the test prints the gap.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from typing import Any

import pytest

from homelab import PROJECT_ROOT
from homelab.backup import plan_for
from homelab.load import load_platform
from homelab.model import Platform
from homelab.model.takeover import SAVED_SUFFIX
from homelab.services import daemon_named, daemons, mlx
from homelab.services.litellm import gateway_host
from tests.lab.conftest import LAB_INVENTORY, changed, deploy, ssh
from tests.lab.test_backup import WebUI, finds, user_with_chat

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root"),
]

PROBE = "takeover-probe"
PROBE_LOG = f"/run/{PROBE}.log"


def on(host: str, *commands: str, timeout: float = 180) -> str:
    """Commands on a lab host as root (``sh -e``); fails the test on an error."""
    result = ssh(host, "set -e\n" + "\n".join(commands), timeout=timeout)
    assert result.returncode == 0, f"{host}: {result.stderr[-2000:]}"
    return result.stdout


def unit_text(description: str, user: str, workdir: str, env: str | None, argv: str) -> str:
    lines = ["[Unit]", f"Description={description}", "After=network.target", "", "[Service]"]
    lines += ["Type=simple", f"User={user}", f"WorkingDirectory={workdir}"]
    if env:
        lines.append(f"EnvironmentFile={env}")
    lines += [f"ExecStart={argv}", "Restart=always", "RestartSec=2", ""]
    return "\n".join([*lines, "[Install]", "WantedBy=multi-user.target", ""])


def write(path: str, text: str) -> str:
    return f"cat > {shlex.quote(path)} <<'LEGACY_EOF'\n{text}LEGACY_EOF"


def gateway_home(platform: Platform) -> str:
    """The host whose hand-built setup ran the gateway and Open WebUI: the gateway's host."""
    home = gateway_host(platform)
    takeover = platform.host(home).takeover
    assert any("litellm" in u.replaced_by for u in takeover.units), f"{home}: no legacy gateway"
    assert takeover.open_webui_data, f"{home}: no legacy Open WebUI data"
    return home


def mlx_homes(platform: Platform) -> list[str]:
    """The other hosts whose hand-built setup served MLX models: one legacy unit each, replaced
    by MLX servers of theirs. Every host with legacy units is one of these or the gateway's."""
    home = gateway_home(platform)
    found = []
    for name, host in platform.hosts.items():
        if name == home or host.takeover.empty:
            continue
        (unit,) = host.takeover.units
        assert not host.takeover.launchd_jobs, f"{name}: the lab's hosts run systemd"
        servers = {d.name for d in mlx.SERVICE.daemons(platform, name)}
        assert set(unit.replaced_by) <= servers, (name, unit)
        found.append(name)
    return found


def legacy_gateway(platform: Platform) -> list[str]:
    """Shell commands that turn the converged lab's gateway host into a hand-built one."""
    host = gateway_home(platform)
    takeover = platform.host(host).takeover
    units = {u.replaced_by[0]: u for u in takeover.units}
    user = units["litellm"].user
    assert user and takeover.open_webui_data
    home = f"/home/{user}"
    litellm = daemon_named(platform, host, "litellm")
    optillm = daemon_named(platform, host, "optillm")
    webui = daemon_named(platform, host, "open-webui")
    gateway_dir = f"{home}/homelab-llm/layer-gateway/litellm-orch"
    webui_dir = f"{home}/open-webui"
    legacy_data = takeover.open_webui_data
    port = litellm.listener.port
    return [
        f"id -u {user} >/dev/null 2>&1 || useradd -m -s /bin/bash {user}",
        f"systemctl disable --now {litellm.unit} {optillm.unit} {webui.unit}",
        # A socket unit holding one of their ports (left by another revision) goes too.
        f"for s in $(systemctl show -p TriggeredBy --value {litellm.unit} {optillm.unit} "
        f"{webui.unit}); do systemctl disable --now $s; done",
        # LiteLLM from a venv in the user's home, its config and env (with the keys) there.
        f"mkdir -p {gateway_dir}/config",
        f"ln -sfn $(readlink -f {litellm.venv}) {gateway_dir}/.venv",
        f"cp {litellm.config} {gateway_dir}/config/router.yaml",
        f"cat {litellm.env_files[0]} {litellm.secrets_env} > {gateway_dir}/config/env.local",
        write(
            f"{litellm.layout.systemd_units}/{units['litellm'].unit}",
            unit_text(
                "LiteLLM Proxy (litellm-orch)",
                user,
                gateway_dir,
                f"{gateway_dir}/config/env.local",
                f"{gateway_dir}/.venv/bin/litellm --config {gateway_dir}/config/router.yaml "
                f"--host 0.0.0.0 --port {port}",
            ),
        ),
        write(
            f"{litellm.layout.systemd_units}/{units['optillm'].unit}",
            unit_text(
                "OptiLLM Proxy (optillm-proxy), a stand-in",
                user,
                home,
                None,
                f"/usr/bin/python3 -m http.server {optillm.listener.port} "
                f"--bind {optillm.listener.bind}",
            ),
        ),
        # Open WebUI on the legacy data directory: the platform's own data, moved there.
        f"rm -rf {legacy_data} && mv {webui.state_dir} {legacy_data}",
        f"mkdir -p {webui_dir}",
        f"ln -sfn $(readlink -f {webui.venv}) {webui_dir}/.venv",
        f"grep -v -e '^DATA_DIR=' -e '^STATIC_DIR=' {webui.env_files[0]} > {webui_dir}/env",
        f"printf 'DATA_DIR=%s\\nSTATIC_DIR=%s/static\\n' {legacy_data} {legacy_data} "
        f">> {webui_dir}/env",
        f"cat {webui.secrets_env} >> {webui_dir}/env",
        f"chown -R {user}: {home}",
        write(
            webui.unit_path,
            unit_text(
                "Open WebUI (system, LiteLLM upstream)",
                user,
                webui_dir,
                f"{webui_dir}/env",
                f"{webui_dir}/.venv/bin/open-webui serve --host 0.0.0.0 "
                f"--port {webui.listener.port}",
            ),
        ),
        f"rm -f {webui.unit_path}{SAVED_SUFFIX}",
        "systemctl daemon-reload",
        f"systemctl enable --now {units['litellm'].unit} {units['optillm'].unit} {webui.unit}",
        # The hand-built gateway answers before the deploy begins.
        f"curl -fsS -o /dev/null --retry 60 --retry-delay 1 --retry-all-errors "
        f"{litellm.health_url}",
        f"curl -fsS -o /dev/null --retry 150 --retry-delay 2 --retry-all-errors {webui.health_url}",
    ]


def legacy_mlx(platform: Platform, host: str) -> list[str]:
    """One unit of the legacy job's label serving the MLX ports, ours stopped."""
    (unit,) = platform.host(host).takeover.units
    ours = [daemon_named(platform, host, name) for name in unit.replaced_by]
    serve = " & ".join(f"/usr/bin/python3 -m http.server {d.listener.port}" for d in ours)
    layout = ours[0].layout
    return [
        f"systemctl disable --now {' '.join(d.unit for d in ours)}",
        write(
            f"{layout.systemd_units}/{unit.unit}",
            unit_text(
                "mlx-launch: the MLX boot ensemble, a stand-in",
                "nobody",
                "/",
                None,
                f"/bin/sh -c {shlex.quote(serve + ' & wait')}",
            ),
        ),
        "systemctl daemon-reload",
        f"systemctl enable --now {unit.unit}",
        *(
            f"curl -sS -o /dev/null --retry 20 --retry-delay 1 --retry-all-errors "
            f"http://127.0.0.1:{d.listener.port}/"
            for d in ours
        ),
    ]


def state(host: str, unit: str) -> tuple[str, str]:
    active = ssh(host, f"systemctl is-active {unit}").stdout.strip()
    enabled = ssh(host, f"systemctl is-enabled {unit}").stdout.strip()
    return active, enabled


def gap_seconds(log: str, legacy: str) -> float:
    """From the probe's ``time holder`` lines: how long the port had no listener between the
    legacy gateway's last sample and the first of another holder after it."""
    samples = [(float(t), holder) for t, holder in (line.split() for line in log.splitlines())]
    legacy_times = [t for t, holder in samples if holder == legacy]
    assert legacy_times, "the probe never saw the legacy gateway on the port"
    last = max(legacy_times)
    after = [t for t, holder in samples if t > last and holder not in (legacy, "none")]
    assert after, "no listener took the port after the legacy gateway"
    return min(after) - last


def make_user_and_chat(ui: WebUI) -> tuple[str, str, str]:
    email, chat_id, title, _session = user_with_chat(ui, "Grace", "from before the takeover")
    return email, chat_id, title


def homelab_way_back(host: str) -> str:
    script = subprocess.run(
        [sys.executable, "-m", "homelab.cli", "way-back", host, "--inventory", str(LAB_INVENTORY)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return on(host, script, timeout=300)


def test_first_deploy_takes_over_the_hand_built_homelab(lab: dict[str, Any]) -> None:
    platform = load_platform(LAB_INVENTORY)
    ui = WebUI(platform)
    home, others = gateway_home(platform), mlx_homes(platform)
    assert ui.host == home, f"Open WebUI runs on {ui.host}, its legacy data is on {home}"
    legacy = platform.host(home).takeover
    legacy_units = [u.unit for u in legacy.units if not u.same_name]
    mlx_units = {host: platform.host(host).takeover.units[0].unit for host in others}
    legacy_gateway_units = [u for u in legacy.units if u.unit in legacy_units or u.same_name]
    gateway = daemon_named(platform, home, "litellm")
    webui = daemon_named(platform, home, "open-webui")
    optillm = daemon_named(platform, home, "optillm")
    began = time.monotonic()
    sockets = on(
        home,
        f"systemctl show -p TriggeredBy --value {gateway.unit} {optillm.unit} {webui.unit}",
    ).split()
    try:
        deploy()  # converged, and Open WebUI with its admin
        email, chat_id, title = make_user_and_chat(ui)

        on(home, *legacy_gateway(platform), timeout=600)
        for host in others:
            on(host, *legacy_mlx(platform, host))
        for unit in [*legacy_units, webui.unit]:
            assert state(home, unit) == ("active", "enabled"), unit
        finds(ui, email, chat_id, title)  # served by the hand-built Open WebUI
        prepared = time.monotonic()

        legacy_uid = on(home, f"id -u {legacy.units[0].user}").strip()
        holder = on(home, f"ss -Hltne 'sport = :{gateway.listener.port}'")
        assert f"uid:{legacy_uid} " in holder, f"the legacy gateway holds no port: {holder}"
        on(
            home,
            f"systemd-run --quiet --unit={PROBE} /bin/sh -c "
            + shlex.quote(
                f"while :; do l=$(ss -Hltne 'sport = :{gateway.listener.port}' | head -n 1); "
                # ss names no uid for root's sockets: systemd's socket unit holds it as root.
                'if [ -n "$l" ]; then u=$(printf %s "$l" | grep -o "uid:[0-9]*" || echo uid:0); '
                'else u=none; fi; echo "$(date +%s.%N) $u"; sleep 0.05; done '
                f"> {PROBE_LOG}"
            ),
        )
        results = deploy()
        log = on(home, f"systemctl stop {PROBE}", f"cat {PROBE_LOG}")
        took_over = [op for op in changed(results) if "Take over" in op]
        print("\n".join(["takeover operations:", *took_over]))
        gap = gap_seconds(log, f"uid:{legacy_uid}")
        print(f"gateway port {gateway.listener.port} without a listener: {gap:.2f} s")

        for unit in legacy_units:
            assert state(home, unit) == ("inactive", "disabled"), unit
            assert on(home, f"systemctl cat {unit} >/dev/null && echo kept").strip() == "kept"
        for host, unit in mlx_units.items():
            assert state(host, unit) == ("inactive", "disabled"), f"{host}: {unit}"
        assert state(home, webui.unit) == ("active", "enabled")
        saved = on(home, f"cat {webui.unit_path}{SAVED_SUFFIX}")
        assert f"User={legacy.units[0].user}" in saved, "the legacy unit file is kept aside"
        assert on(home, f"test -f {legacy.open_webui_data}/webui.db && echo kept").strip()
        legacy_copies = on(home, f"ls {plan_for(platform).legacy_dest}").split()
        assert [c for c in legacy_copies if c.endswith("-legacy.tar.gz")], legacy_copies
        owner = on(home, f"stat -c '%U %a' {plan_for(platform).database}").split()
        assert owner == [webui.user, "600"]
        finds(ui, email, chat_id, title)  # the old password, the old chat, the new service
        took = time.monotonic()

        assert changed(deploy()) == [], "a second deploy takes nothing over again"
        verify = subprocess.run(
            [sys.executable, "-m", "pytest", "verify", "--inventory", str(LAB_INVENTORY), "-q"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert verify.returncode == 0, verify.stdout[-3000:]

        # The way back: the hand-built units in charge again, as they were.
        homelab_way_back(home)
        for host in others:
            homelab_way_back(host)
        for unit in legacy_units:
            assert state(home, unit) == ("active", "enabled"), unit
        for host, unit in mlx_units.items():
            assert state(host, unit) == ("active", "enabled"), f"{host}: {unit}"
        for d in daemons(platform, home):
            if any(d.name in u.replaced_by for u in legacy_gateway_units if not u.same_name):
                assert state(home, d.unit)[1] == "disabled", d.unit
        on(home, f"grep -q '^User={legacy.units[0].user}$' {webui.unit_path}")
        on(
            home,
            f"curl -fsS -o /dev/null --retry 60 --retry-delay 1 --retry-all-errors "
            f"{gateway.health_url}",
            f"ss -Hltnp 'sport = :{gateway.listener.port}' | grep -q litellm",
        )
        print(
            f"takeover lab test: before state {prepared - began:.0f} s, takeover "
            f"{took - prepared:.0f} s, all {time.monotonic() - began:.0f} s"
        )
    finally:
        ssh(home, f"systemctl stop {PROBE} 2>/dev/null; rm -f {PROBE_LOG}")
        restore_lab(platform, sockets)


def restore_lab(platform: Platform, sockets: list[str]) -> None:
    """Taken over again, then the legacy units, their files and the login user gone, any
    socket unit found on the way back in charge: the lab as the other tests expect it."""
    home = gateway_home(platform)
    legacy = platform.host(home).takeover
    deploy()
    litellm = daemon_named(platform, home, "litellm")
    if sockets:
        on(
            home,
            f"systemctl stop {litellm.unit}",
            f"systemctl enable --now {' '.join(sockets)}",
            f"systemctl start {litellm.unit}",
        )
    webui = daemon_named(platform, home, "open-webui")
    user = legacy.units[0].user
    folder = webui.layout.systemd_units
    units = " ".join(f"{folder}/{u.unit}" for u in legacy.units if not u.same_name)
    on(
        home,
        f"rm -f {units} {webui.unit_path}{SAVED_SUFFIX}",
        f"rm -rf {plan_for(platform).legacy_dest}",
        f"if id -u {user} >/dev/null 2>&1; then pkill -u {user} || true; sleep 1; "
        f"userdel -r {user} 2>/dev/null || userdel {user}; rm -rf /home/{user}; fi",
        "systemctl daemon-reload",
        "systemctl reset-failed",
    )
    for host in mlx_homes(platform):
        h = platform.host(host)
        units = " ".join(f"{h.layout.systemd_units}/{u.unit}" for u in h.takeover.units)
        on(host, f"rm -f {units}", "systemctl daemon-reload", "systemctl reset-failed")
    assert changed(deploy()) == [], "the lab is converged again"
