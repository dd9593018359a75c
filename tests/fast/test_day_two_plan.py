"""Day two, planned on pyinfra's ``@fake`` hosts with the real group data: what the data no longer
names is stopped and removed (launchd on the Studio, systemd on the Mini), a venv root whose
service left keeps two venvs, what is not the platform's is left alone, and a set of models the
Studio's memory cannot hold is refused before any command is sent."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from bench.variant import changed_lab
from deploys.budget import GB, WeightBytes, mlx_budget, over_budget
from homelab.load import load_platform
from homelab.model import LINUX, MACOS, Host, Platform
from homelab.model.system import UNIT_MARK
from homelab.render.units import service_file
from homelab.services import daemon_files, daemon_named, daemons
from homelab.services.litellm import LiteLLM, gateway_host
from homelab.services.mlx import MlxServers, server_name
from homelab.services.ov_server import OvServer
from tests.fast.fakeplan import LAB, Responses, first, plan, planned_by_host, planned_commands, sent

PREFIX = "com.homelab-llm"


def studio_mlx(platform: Platform) -> MlxServers:
    """The real Studio's MLX servers (its data places them)."""
    mlx = platform.host("studio").get(MlxServers)
    assert mlx is not None, "the real Studio serves MLX models"
    return mlx


def with_host(platform: Platform, name: str, host: Host) -> Platform:
    """The platform with host ``name``'s data replaced by ``host`` (validated again)."""
    return platform.evolve(hosts={**platform.hosts, name: host})


def stat_line(path: str, mode: str, mtime: int = 0, target: str | None = None) -> str:
    """What pyinfra's File/Directory/Link facts read from ``stat`` for ``path``."""
    name = f"'{path}'" + (f" -> '{target}'" if target else "")
    return f"user=root group=root mode={mode} atime=0 mtime={mtime} ctime=0 size=1 {name}"


def weights(platform: Platform, each: dict[str, int]) -> Responses:
    """The Studio's answer to the weight measurement: ``each`` model id -> bytes."""
    lines = [f"{each.get(m.model_id, 0)}\t{m.source_path}" for m in studio_mlx(platform).served]
    return {"safetensors": lines}


# -- the Studio: launchd ----------------------------------------------------------------------


def stale_studio(platform: Platform) -> Responses:
    daemons_dir = platform.host("studio").layout.launchd_daemons
    stale = f"{daemons_dir}/{PREFIX}.mlx-8103.plist"
    return {
        # A server whose model moved from 8103: its plist on disk and loaded; another server
        # loaded with its plist already gone; an OptiLLM local instance the data switched off.
        f"find {daemons_dir}": [stale],
        f"test -e {stale}": [stat_line(stale, "-rw-r--r--")],
        "launchctl list": [
            "PID\tStatus\tLabel",
            f"4242\t0\t{PREFIX}.mlx-8103",
            f"-\t0\t{PREFIX}.mlx-8121",
            f"777\t0\t{PREFIX}.opt-router-high",
            "88\t0\tcom.apple.something",
        ],
        # Within the budget: 2 GB a model.
        **weights(platform, {m.model_id: 2 * GB for m in studio_mlx(platform).served}),
    }


@pytest.fixture(scope="module")
def stale(tmp_path_factory: pytest.TempPathFactory, platform: Platform) -> dict[str, list[str]]:
    """Both real hosts with what the data no longer names (the Studio's plists, the Mini's
    units), planned in one run."""
    answers = {"studio": stale_studio(platform), "mini": stale_mini(platform)}
    return planned_by_host(tmp_path_factory.mktemp("stale"), answers)


@pytest.fixture(scope="module")
def studio(stale: dict[str, list[str]]) -> list[str]:
    return stale["studio"]


def test_a_stale_plist_is_booted_out_and_removed_after_the_servers_are_up(
    studio: list[str], platform: Platform
) -> None:
    daemons_dir = platform.host("studio").layout.launchd_daemons
    bootout = studio.index(f"launchctl bootout system/{PREFIX}.mlx-8103")
    remove = studio.index(f"rm -f {daemons_dir}/{PREFIX}.mlx-8103.plist")
    assert bootout < remove, "the plist is removed only once launchd let go of the daemon"
    last_up = max(
        i for i, c in enumerate(studio) if c.startswith(("launchctl bootstrap", "curl -fsS"))
    )
    assert last_up < bootout, "stale daemons go only after the named ones are up"


def test_a_loaded_label_without_plist_is_booted_out(studio: list[str]) -> None:
    assert f"launchctl bootout system/{PREFIX}.mlx-8121" in studio
    assert not [c for c in studio if c.startswith("rm ") and "mlx-8121" in c]


def test_a_daemon_switched_off_is_unloaded_and_keeps_its_plist(
    studio: list[str], platform: Platform
) -> None:
    local = next(d for d in daemons(platform, "studio") if d.name == "opt-router-high")
    assert not local.enabled
    assert f"launchctl bootout system/{local.unit}" in studio
    assert not [c for c in studio if c.startswith("rm ") and local.unit_path in c]


def test_named_daemons_and_foreign_labels_are_not_removed(
    studio: list[str], platform: Platform
) -> None:
    removed = [c for c in studio if c.startswith("rm -f /Library/LaunchDaemons/")]
    assert removed == [f"rm -f /Library/LaunchDaemons/{PREFIX}.mlx-8103.plist"]
    assert not [c for c in studio if "com.apple.something" in c]
    for d in daemons(platform, "studio"):
        if d.enabled:
            assert f"launchctl bootout system/{d.unit}" not in studio, d.name


def test_the_plist_throttles_a_crashing_server_to_30_s(platform: Platform) -> None:
    for d in daemons(platform, "studio"):
        content = service_file(d).content
        assert re.search(r"<key>ThrottleInterval</key>\s*<integer>30</integer>", content), d.name


# -- the Studio: the memory budget -----------------------------------------------------------


def test_a_set_over_the_budget_is_refused_before_any_command(
    tmp_path: Path, platform: Platform
) -> None:
    budget = studio_mlx(platform).memory_budget_gb
    assert budget is not None, "the real Studio states its memory budget"
    served = studio_mlx(platform).served
    big = {m.model_id: int(budget * GB / 2) for m in served}  # two would fill it
    result = plan(tmp_path, "studio", {"studio": weights(platform, big)})
    output = result.stdout + result.stderr
    assert result.returncode != 0, "a set over the budget was planned"
    (line,) = [line for line in output.splitlines() if "memory budget" in line]
    total = len(served) * int(budget * GB / 2) / GB
    assert f"take {total:.3g} GB, over the memory budget of {budget:.3g} GB" in line, line
    assert "studio: the served MLX models' weights" in line, line
    assert "(studio.mlx.memory_budget_gb = " in line, line
    for m in served:
        assert f"{m.model_id} {budget / 2:.3g} GB" in line, line
    assert "refused before anything was stopped or started" in line
    asked = sent(output, "studio")
    assert len(asked) == 1 and "safetensors" in asked[0], f"more than the one measurement: {asked}"


def test_the_budget_message_names_each_model_largest_first(platform: Platform) -> None:
    mlx = studio_mlx(platform)
    served = mlx.served
    sizes = {m.source_path: (i + 1) * GB for i, m in enumerate(served)}
    budget = mlx_budget("studio", mlx.model_copy(update={"memory_budget_gb": 1.5}))
    assert budget is not None
    message = over_budget(budget, sizes)
    assert message is not None
    order = [message.index(m.model_id) for m in reversed(served)]
    assert order == sorted(order), message
    enough = replace(budget, budget_gb=float(sum(sizes.values())) / GB)
    assert over_budget(enough, sizes) is None


def test_the_weight_measure_reads_one_line_per_folder() -> None:
    fact = WeightBytes()
    sizes = fact.process(["158424\t/m/a", "0\t/m/b", "\t/m/c"])
    assert sizes == {"/m/a": 158424, "/m/b": 0, "/m/c": 0}
    command = fact.command(folders=("/m/a", "/m/b"), total_bytes=LINUX.total_bytes)
    assert "du -cb" in command and "/m/a /m/b" in command
    assert "stat -f %z" in fact.command(folders=("/m/a",), total_bytes=MACOS.total_bytes)


# -- the Mini: systemd, and venvs ------------------------------------------------------------


def stale_mini(platform: Platform) -> Responses:
    layout = platform.host("mini").layout
    units = layout.systemd_units
    gone = f"{layout.opt}/gone"
    return {
        # Ours by its mark, not named by the data: retired. The host's own: left alone.
        re.compile(r"^grep -e .* /etc/systemd/system/retired\.service "): [f"# x: {UNIT_MARK}"],
        f"test -e {units}/retired.service": [stat_line(f"{units}/retired.service", "-rw-r--r--")],
        "SubState retired.service": ["Id=retired.service", "SubState=running"],
        "UnitFileState retired.service": ["Id=retired.service", "UnitFileState=enabled"],
        # Its socket, listening: it would start the service again.
        f"test -e {units}/retired.socket": [stat_line(f"{units}/retired.socket", "-rw-r--r--")],
        "SubState retired.socket": ["Id=retired.socket", "SubState=listening"],
        "UnitFileState retired.socket": ["Id=retired.socket", "UnitFileState=enabled"],
        # The gateway's handover unit, ours and named by the data through its gateway.
        re.compile(r"^grep -e .* /etc/systemd/system/litellm-handover\.service "): [
            f"# x: {UNIT_MARK}"
        ],
        f"test -e {units}/litellm-handover.service": [
            stat_line(f"{units}/litellm-handover.service", "-rw-r--r--")
        ],
        f"find {units} -type f": [
            f"{units}/litellm-handover.service",
            f"{units}/retired.service",
            f"{units}/handmade.service",
            f"{units}/litellm.service",
        ],
        # A venv root whose service left, with three venvs; its link names the oldest.
        f"find {layout.opt} -type d": [f"{gone}/venvs/a", f"{gone}/venvs/b", f"{gone}/venvs/c"],
        f"test -L {gone}/venv )": [
            stat_line(f"{gone}/venv", "lrwxrwxrwx", target=f"{gone}/venvs/a")
        ],
        f"test -L {gone}/venvs/a )": [stat_line(f"{gone}/venvs/a", "drwxr-xr-x", 100)],
        f"test -L {gone}/venvs/b )": [stat_line(f"{gone}/venvs/b", "drwxr-xr-x", 200)],
        f"test -L {gone}/venvs/c )": [stat_line(f"{gone}/venvs/c", "drwxr-xr-x", 300)],
    }


@pytest.fixture(scope="module")
def mini(stale: dict[str, list[str]]) -> list[str]:
    return stale["mini"]


def test_a_stale_unit_is_stopped_disabled_removed_then_systemd_reloaded(
    mini: list[str],
) -> None:
    stop = first(mini, "the stale unit stopped", "systemctl stop retired.service")
    disable = first(mini, "the stale unit disabled", "systemctl disable retired.service")
    remove = mini.index("rm -f /etc/systemd/system/retired.service")
    reload = max(i for i, c in enumerate(mini) if c.endswith("systemctl daemon-reload"))
    assert stop < disable < remove < reload, (stop, disable, remove, reload)
    last_up = max(i for i, c in enumerate(mini) if c.startswith("curl -fsS"))
    assert last_up < stop, "stale units go only after the named ones are up"


def test_a_stale_units_socket_is_closed_and_removed_before_the_unit_stops(
    mini: list[str],
) -> None:
    close = first(mini, "the stale socket stopped", "systemctl stop retired.socket")
    disable = first(mini, "the stale socket disabled", "systemctl disable retired.socket")
    remove = first(mini, "the stale socket removed", "rm -f /etc/systemd/system/retired.socket")
    stop = first(mini, "the stale unit stopped", "systemctl stop retired.service")
    assert close < stop and disable < stop and remove < stop, (close, disable, remove, stop)


def test_the_gateways_handover_unit_is_not_stale(mini: list[str], platform: Platform) -> None:
    path = f"{platform.host('mini').layout.systemd_units}/litellm-handover.service"
    retiring = ("systemctl stop litellm-handover", "systemctl disable litellm-handover")
    retired = [c for c in mini if c.startswith(retiring) or c == f"rm -f {path}"]
    assert retired == [], f"expected the handover unit kept, found {retired}"


def test_a_unit_without_the_mark_is_not_the_platforms(mini: list[str]) -> None:
    assert not [c for c in mini if "handmade.service" in c and not c.startswith("grep ")]


def test_a_venv_root_whose_service_left_keeps_two(mini: list[str], platform: Platform) -> None:
    gone = f"{platform.host('mini').layout.opt}/gone/venvs"
    removed = [c for c in mini if c.startswith("rm -rf ") and gone in c]
    assert removed == [f"rm -rf {gone}/b"], removed


def test_every_rendered_unit_carries_the_mark(platform: Platform) -> None:
    """The naming rule finds every unit the platform renders, and nothing else needs it."""
    systemd = [name for name, h in platform.hosts.items() if h.os.init.name == "systemd"]
    assert systemd, "the real data has a systemd host"
    for name in systemd:
        h = platform.host(name)
        assert h.os.init.naming(h.layout).mark == UNIT_MARK
        for d in daemons(platform, name):
            assert service_file(d).content.splitlines()[0].endswith(UNIT_MARK), d.name


# -- a change restarts only what it touches --------------------------------------------------


def test_an_ov_model_change_leaves_optillm_files_as_they_were(platform: Platform) -> None:
    mini = platform.host("mini")
    ov = mini.get(OvServer)
    assert ov is not None, "the real Mini runs ov-server"
    gone = ov.models[0].model_id
    # The model leaves the profiles that name it too (a profile names only served models).
    profiles = {k: tuple(m for m in v if m != gone) for k, v in ov.profiles.items()}
    fewer = with_host(
        platform, "mini", mini.evolve(ov_server=ov.evolve(models=ov.models[1:], profiles=profiles))
    )
    assert daemon_files(fewer, daemon_named(fewer, "mini", "optillm")) == daemon_files(
        platform, daemon_named(platform, "mini", "optillm")
    )


def test_dropping_an_mlx_model_leaves_the_other_servers_files_as_they_were(
    platform: Platform,
) -> None:
    mlx = studio_mlx(platform)
    dropped = mlx.served[0]
    assert dropped.port is not None
    rest = tuple(m for m in mlx.models if m != dropped)
    fewer = with_host(
        platform, "studio", platform.host("studio").evolve(mlx=mlx.evolve(models=rest))
    )
    names = {d.name for d in daemons(fewer, "studio") if d.install == "mlx"}
    assert server_name(dropped.port) not in names and names
    for name in sorted(names):
        assert daemon_files(fewer, daemon_named(fewer, "studio", name)) == daemon_files(
            platform, daemon_named(platform, "studio", name)
        ), name


def test_removal_touches_only_units_plists_and_venvs(
    mini: list[str], studio: list[str], platform: Platform
) -> None:
    """Never data: weights, Open WebUI's data, secrets, backups and state stay."""
    allowed = {}
    for role in ("mini", "studio"):
        h = platform.host(role)
        allowed[role] = (f"{h.os.init.unit_dir(h.layout)}/", f"{h.layout.opt}/")
    for role, commands in (("mini", mini), ("studio", studio)):
        last_up = max(i for i, c in enumerate(commands) if c.startswith("curl -fsS"))
        for c in commands[last_up + 1 :]:
            if c.startswith("rm "):
                target = c.split()[-1]
                assert target.startswith(allowed[role]), f"{role}: {c}"
                if target.startswith(allowed[role][1]):
                    assert "/venvs/" in target, f"{role}: {c}"


def test_a_handover_unit_the_data_no_longer_names_is_retired(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """The gateway served by uvicorn binds its own port: no socket, so no handover; the one an
    earlier deploy put on the host is stopped, disabled and removed."""
    lab = load_platform(LAB)
    home = gateway_host(lab)
    gw = daemon_named(lab, home, "litellm")
    assert gw.handover_path is not None, "the lab's gateway hands over"
    on = f"lab.hosts[{home!r}]"
    litellm = f"{on}.services[{LiteLLM.key!r}]"
    folder = tmp_path_factory.mktemp("no-handover")
    inventory = changed_lab(
        folder / "data",
        f"lab.evolve(hosts={{**lab.hosts, {home!r}: "
        f"{on}.evolve({LiteLLM.key}={litellm}.evolve(server='uvicorn'))}})",
    )
    path = gw.handover_path
    left: Responses = {
        re.compile(rf"^grep -e .* {re.escape(path)} "): [f"# x: {UNIT_MARK}"],
        f"test -e {path}": [stat_line(path, "-rw-r--r--")],
        f"SubState {gw.handover_unit}": [f"Id={gw.handover_unit}", "SubState=dead"],
        f"find {lab.host(home).layout.systemd_units} -type f": [path],
    }
    commands = planned_commands(folder, home, {home: left}, inventory)
    assert f"rm -f {path}" in commands, f"expected {path} removed, found it kept"
