"""The operator's console without a host: how it reaches hosts (pyinfra's own settings from the
inventory), what ``status`` and ``diff`` would run on the REAL inventory's hosts (planned, never
sent), how their answers are read, the log commands, and ``homelab up``'s steps and last lines.
The shell parts run here, on local files, where they can."""

from __future__ import annotations

import hashlib
import plistlib
import re
import shlex
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from homelab import PROJECT_ROOT
from homelab.console import connect, diff, logs, probe, status, up
from homelab.load import load_inventory, load_platform
from homelab.model import LINUX, Platform
from homelab.render import HostFile, daemon_files, host_files
from homelab.services import daemons
from homelab.services.litellm import gateway, gateway_host
from homelab.services.open_webui import OpenWebUI

REAL = PROJECT_ROOT / "inventory.py"
LAB = PROJECT_ROOT / "lab" / "inventory.py"
#: The real inventory's hosts, by name (their data is loaded, no host is contacted).
HOSTS = tuple(load_platform(REAL).hosts)


# --- reaching the hosts ----------------------------------------------------------------------


def test_settings_are_pyinfras_own_for_each_host() -> None:
    inv = load_inventory(REAL)
    found = connect.settings(REAL)
    assert set(found) == {host.name for host in inv} == set(HOSTS)
    for host in inv:
        s = found[host.name]
        assert s.name == host.name and s.connector == "SSHConnector"
        assert s.hostname == host.data.get("ssh_hostname")
        assert s.user == host.data.get("ssh_user")
        # The real hosts' SSH users are not root: every command goes through sudo.
        assert s.user != "root" and s.sudo


def test_lab_settings_carry_key_known_hosts_and_strict_checking() -> None:
    from homelab.lab.config import load_config

    lab = load_config()
    for name, s in connect.settings(LAB).items():
        assert s.hostname == lab.address(name)
        assert s.user == "root" and not s.sudo
        assert s.key == str(lab.ssh_key)
        assert s.known_hosts == str(lab.known_hosts)
        assert s.strict == "yes"


def test_a_host_without_data_is_said_plainly(tmp_path: Path) -> None:
    inv = tmp_path / "inventory.py"
    inv.write_text(REAL.read_text().replace('("studio", {', '("elsewhere", {'))
    assert "elsewhere" in inv.read_text()
    (tmp_path / "group_data").mkdir()
    with pytest.raises(Exception, match=r"hosts\.elsewhere: no data file"):
        connect.settings(inv)


@pytest.fixture
def local_remote() -> connect.Remote:
    """A Remote on pyinfra's @local connector: the same calls, this machine, no network."""
    from pyinfra.api.config import Config
    from pyinfra.api.inventory import Inventory
    from pyinfra.api.state import State

    inv = Inventory((["@local"], {}))  # type: ignore[no-untyped-call]
    State(inv, Config())  # type: ignore[no-untyped-call]
    (host,) = list(inv)
    host.connect(raise_exceptions=True)
    return connect.Remote("mini", host)


def test_remote_runs_commands_with_stdin_and_says_failure(local_remote: connect.Remote) -> None:
    done = local_remote.run("cat; echo err >&2", stdin="print('hello')")
    assert done.ok and done.stdout == "print('hello')" and done.stderr == "err"
    failed = local_remote.run("echo nope >&2; exit 3")
    assert not failed.ok and failed.stderr == "nope"


def test_remote_sends_and_fetches_files(local_remote: connect.Remote, tmp_path: Path) -> None:
    original = tmp_path / "copy.tar.gz"
    original.write_bytes(bytes(range(256)) * 40)
    placed = tmp_path / "on-host" / "incoming.tar.gz"
    local_remote.send(original, str(placed))
    assert placed.read_bytes() == original.read_bytes()
    assert placed.stat().st_mode & 0o777 == 0o600
    back = tmp_path / "back"
    local_remote.fetch(str(placed), back)
    assert back.read_bytes() == original.read_bytes()
    assert not list(Path("/tmp").glob("homelab.*/incoming.tar.gz"))  # nothing left behind


def test_backup_and_restore_reach_the_host_through_pyinfra() -> None:
    source = (PROJECT_ROOT / "homelab" / "backup.py").read_text()
    assert "from homelab.console.connect import" in source
    assert "subprocess" not in source and '"ssh"' not in source


# --- status, planned against the real inventory ----------------------------------------------


@pytest.fixture(scope="module")
def real() -> Platform:
    return load_platform(REAL)


@pytest.mark.parametrize("host", HOSTS)
def test_status_plan_names_every_daemon_file_and_url(real: Platform, host: str) -> None:
    p = status.plan(real, host)
    script = p.script
    for d in daemons(real, host):
        if d.system.init.name == "launchd":
            assert f"launchctl print system/{d.unit}" in script
        else:
            assert f"-- {d.unit}" in script
        assert (shlex.quote(d.health_url) in script) == d.enabled
        dist = status.distribution(d)
        if d.enabled and dist:
            assert f"{d.venv}/bin/python" in script and repr(dist) in script
    for f in probe.expected_files(real, host):
        assert shlex.quote(f.path) in script
    assert {f.path for f in p.files} <= {f.path for f in host_files(real, host)}
    assert p.system == real.host(host).os
    assert p.system.listening in script
    assert shlex.quote(p.marker) in script and f"{p.unit_dir}/{p.unit_glob}" in script


def test_the_real_hosts_plans_use_each_platforms_tools(real: Platform) -> None:
    mini, studio = status.plan(real, "mini"), status.plan(real, "studio")
    assert mini.system.name == "linux" and studio.system.name == "macos"
    assert "systemctl show" in mini.script and "launchctl" not in mini.script
    assert "ss -Hltn" in mini.script and "sha256sum" in mini.script
    assert "launchctl print" in studio.script and "systemctl" not in studio.script
    assert "lsof -nP -iTCP -sTCP:LISTEN" in studio.script and "shasum -a 256" in studio.script
    lay = real.host("studio").layout
    assert studio.unit_glob == f"{lay.launchd_prefix}.*.plist"
    assert studio.unit_dir == lay.launchd_daemons
    assert mini.unit_dir == real.host("mini").layout.systemd_units
    assert mini.unit_glob == "*.service"


def test_disabled_daemons_are_expected_with_their_unit_only(real: Platform) -> None:
    off = [d for host in real.hosts for d in daemons(real, host) if not d.enabled]
    assert off, "the real data has disabled daemons (AFM, OptiLLM local)"
    for d in off:
        expected = {f.path for f in probe.expected_files(real, d.host)}
        unit, *config = daemon_files(real, d)
        assert unit.path in expected
        assert not {f.path for f in config} & expected


def test_the_platform_marker_is_what_its_rendered_units_say(real: Platform) -> None:
    for host in real.hosts:
        p = status.plan(real, host)
        for d in daemons(real, host):
            assert p.marker in daemon_files(real, d)[0].content
        assert "rendered from the platform model" in p.marker


def _healthy_output(p: status.Plan) -> str:
    """What a host as the model says would answer (built from the plan itself)."""
    out: list[str] = []
    listening: list[str] = []
    for d in p.daemons:
        out.append(f"@@ state {d.name}")
        if p.system.init.name == "launchd":
            out += ["\tstate = running" if d.enabled else "\tstate = not running", "\tpid = 7"]
        else:
            out += [
                "LoadState=loaded",
                "ActiveState=active" if d.enabled else "ActiveState=inactive",
                "SubState=running" if d.enabled else "SubState=dead",
            ]
        if d.enabled:
            out += [f"@@ health {d.name}", "200", f"@@ version {d.name}", "1.2.3"]
            listening.append(f"{d.listener.bind}:{d.listener.port}")
    out.append("@@ listen")
    for addr in listening:
        if p.system.name == "macos":  # lsof's lines; ss's on Linux
            out.append(f"python 7 llm 3u IPv4 0x1 0t0 TCP {addr.replace('0.0.0.0', '*')} (LISTEN)")
        else:
            out.append(f"LISTEN 0 128 {addr} 0.0.0.0:*")
    out.append("@@ units")
    out += [d.unit_path for d in p.daemons]
    out.append("@@ files")
    out += [f"{hashlib.sha256(f.content.encode()).hexdigest()}  {f.path}" for f in p.files]
    return "\n".join(out) + "\n"


@pytest.mark.parametrize("host", HOSTS)
def test_status_reads_a_host_as_the_model_says(real: Platform, host: str) -> None:
    p = status.plan(real, host)
    found = status.read(p, _healthy_output(p))
    assert found.ok, found.drift
    assert {d.name for d in found.daemons} == {d.name for d in p.daemons}
    assert all(d.version == "1.2.3" for d in found.daemons if d.enabled)
    lines = status.table(found, host)
    assert lines[-1].strip() == "as the model says"


def test_status_names_a_down_daemon_a_stray_unit_and_changed_files(real: Platform) -> None:
    p = status.plan(real, "mini")
    d = next(d for d in p.daemons if d.enabled)
    router, settings = (f for f in p.files if f.path.endswith(("router.yaml", "settings.yml")))
    stray = f"{p.unit_dir}/leftover.service"
    text = _healthy_output(p)
    text = text.replace(
        f"@@ state {d.name}\nLoadState=loaded\nActiveState=active\nSubState=running",
        f"@@ state {d.name}\nLoadState=loaded\nActiveState=failed\nSubState=failed",
    )
    text = text.replace("@@ files\n", f"{stray}\n@@ files\n")
    sha = hashlib.sha256(router.content.encode()).hexdigest()
    text = text.replace(f"{sha}  {router.path}", f"{'0' * 64}  {router.path}")
    text = re.sub(rf"^\w+  {re.escape(settings.path)}$", f"- {settings.path}", text, flags=re.M)
    found = status.read(p, text)
    assert not found.ok
    assert [x.name for x in found.down] == [d.name]
    assert found.stray_units == [stray]
    assert found.changed_files == [router.path] and found.missing_files == [settings.path]
    shown = "\n".join(status.table(found, "mini"))
    assert f"down: {d.name} is not running (failed/failed)" in shown
    assert f"drift: {stray}" in shown and f"drift: {router.path}: differs" in shown


def test_status_names_a_bind_other_than_the_models(real: Platform) -> None:
    p = status.plan(real, "mini")
    loopback = next(d for d in p.daemons if d.enabled and d.listener.bind == "127.0.0.1")
    text = _healthy_output(p).replace(
        f"127.0.0.1:{loopback.listener.port} ", f"0.0.0.0:{loopback.listener.port} "
    )
    found = status.read(p, text)
    assert found.drift == [
        f"{loopback.name} should listen on 127.0.0.1:{loopback.listener.port}; "
        f"on its port: 0.0.0.0:{loopback.listener.port}"
    ]


def test_the_file_part_of_the_probe_runs_on_real_files(tmp_path: Path) -> None:
    same, other, gone = tmp_path / "same", tmp_path / "other", tmp_path / "gone dir" / "x"
    same.write_text("a\n")
    other.write_text("b\n")
    script = probe.files_part([str(same), str(other), str(gone)], LINUX)
    out = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True).stdout
    files = (HostFile(str(same), "a\n"), HostFile(str(other), "c\n"), HostFile(str(gone), ""))
    p = replace(status.plan(load_platform(REAL), "mini"), daemons=(), files=files)
    found = status.read(p, out)
    assert found.changed_files == [str(other)] and found.missing_files == [str(gone)]


# --- diff --------------------------------------------------------------------------------------


@pytest.mark.parametrize("host", HOSTS)
def test_diff_plan_reads_every_file_guarded_ones_included(real: Platform, host: str) -> None:
    files, script = diff.plan(real, host)
    for f in files:
        assert shlex.quote(f.path) in script
    paths = {f.path for f in files}
    for d in daemons(real, host):
        assert d.unit_path in paths
        if d.enabled and d.config:
            assert d.config in paths  # router.yaml, settings.yml: the guarded ones


def test_diff_script_runs_and_shows_only_what_differs(tmp_path: Path) -> None:
    same, other, gone = tmp_path / "same.yaml", tmp_path / "other.yaml", tmp_path / "gone.yaml"
    same.write_text("model: a\n")
    other.write_text("model: a\nextra: 1\n")
    files = [
        HostFile(str(same), "model: a\n"),
        HostFile(str(other), "model: a\n"),
        HostFile(str(gone), "new\n"),
    ]
    out = subprocess.run(
        ["sh", "-c", diff.script(files)], capture_output=True, text=True, check=True
    ).stdout
    live = diff.live_files(out)
    assert live == {str(same): "model: a\n", str(other): "model: a\nextra: 1\n", str(gone): None}
    assert diff.unified("mini", files[0], live[str(same)]) == []
    changed = "".join(diff.unified("mini", files[1], live[str(other)]))
    assert f"--- mini:{other} (live)" in changed and "-extra: 1\n" in changed
    missing = "".join(diff.unified("mini", files[2], None))
    assert "(live, missing)" in missing and "+new\n" in missing


# --- logs --------------------------------------------------------------------------------------


def test_logs_find_the_host_by_name_unit_or_label(real: Platform) -> None:
    every = [d.name for host in real.hosts for d in daemons(real, host)]
    for host in real.hosts:
        for d in daemons(real, host):
            if d.system.init.name == "launchd":  # its unit is its label
                assert d.unit == f"{d.layout.launchd_prefix}.{d.name}"
            # A daemon every host runs (the node exporter) is named with its host.
            names = (d.name, d.unit) if every.count(d.name) == 1 else (f"{host}/{d.name}",)
            for name in names:
                assert logs.find(real, name) == d
    with pytest.raises(logs.UnknownService, match="no service 'nginx'"):
        logs.find(real, "nginx")


def test_logs_use_journald_on_linux_and_the_plists_files_on_macos(real: Platform) -> None:
    every = real.enabled_daemons()
    linux = next(d for d in every if d.system.name == "linux")
    assert logs.command(real, linux, 20, False) == f"journalctl --no-pager -u {linux.unit} -n 20"
    assert logs.command(real, linux, 5, True).endswith("-n 5 -f")
    mac = next(d for d in every if d.system.name == "macos")
    plist = plistlib.loads(daemon_files(real, mac)[0].content.encode())
    files = logs.log_files(real, mac)
    assert files == list(dict.fromkeys([plist["StandardOutPath"], plist["StandardErrorPath"]]))
    assert all(f.startswith(real.host(mac.host).layout.logs + "/") for f in files)
    assert logs.command(real, mac, 7, True) == f"tail -n 7 -f {' '.join(files)}"


# --- up ------------------------------------------------------------------------------------------


def test_up_on_the_lab_brings_it_up_converges_and_verifies() -> None:
    steps = up.steps(LAB)
    assert [what for what, _ in steps] == [
        "bringing the lab up",
        "converging every host",
        "verifying every host",
    ]
    (_, lab), (_, deploy), (_, verify) = steps
    assert lab[-3:] == ["-m", "homelab.lab", "up"]
    assert deploy[-5:] == ["-m", "pyinfra", str(LAB), "deploys/site.py", "-y"]
    assert verify[-4:] == ["pytest", "verify", "--inventory", str(LAB)]
    assert [w for w, _ in up.steps(REAL)] == ["converging every host", "verifying every host"]


def test_up_ends_with_the_urls_and_where_the_key_is_never_the_key() -> None:
    lab = load_platform(LAB)
    lines = up.where(lab, LAB)
    webuis = [(h, lab.host(h).get(OpenWebUI)) for h in lab.hosts if lab.host(h).get(OpenWebUI)]
    assert webuis, "the lab runs Open WebUI"
    for (host, webui), line in zip(webuis, lines[: len(webuis)], strict=True):
        assert webui is not None
        assert line.endswith(f"http://{lab.addresses[host]}:{webui.listener.port}/")
    home = gateway_host(lab)
    assert f"http://{lab.addresses[home]}:{gateway(lab).listener.port}/v1" in lines[-2]
    key = lab.host(home).layout.secret_file(lab.gateway.proxy_key.env)
    assert f"in {key} on {home}" in lines[-1]
    assert lines[-1].endswith(f"homelab lab ssh {home} cat {key}")
    real = load_platform(REAL)
    s = connect.settings(REAL)[gateway_host(real)]
    assert up.where(real, REAL)[-1].endswith(f"ssh {s.user}@{s.hostname} sudo cat {key}")


@pytest.mark.parametrize("host", HOSTS)
def test_status_names_a_legacy_unit_running_again(real: Platform, host: str) -> None:
    p = status.plan(real, host)
    assert p.legacy, f"the real {host} takes over a hand-built setup"
    again = p.legacy[0]
    assert again in p.script, "the probe asks whether it runs"
    found = status.read(p, _healthy_output(p) + f"@@ legacy\n{again}\n")
    assert found.legacy_running == [again]
    assert f"{again}: the hand-built setup's, taken over, is running again" in found.drift
    assert status.read(p, _healthy_output(p) + "@@ legacy\n").ok
