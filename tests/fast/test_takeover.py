"""Taking over the hand-built setup: the data that says what is replaced, its rules, the plan
of the Studio's takeover on pyinfra's @fake connector, the import of Open WebUI's data, and
the way back."""

from __future__ import annotations

import getpass
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from deploys.takeover import RENDERED_MARK, LaunchdDisabled
from homelab.backup_host import BackupError, import_data
from homelab.cli import main
from homelab.model import Platform
from homelab.render import daemon_files
from homelab.services import daemons
from homelab.services.mlx import MlxServers, server_name
from homelab.takeover import summary, way_back
from tests.fast.fakeplan import Responses, planned_commands


def with_host(platform: Platform, name: str, **changes: Any) -> Platform:
    """The platform with ``changes`` to host ``name``'s data (validated again)."""
    return platform.evolve(hosts={**platform.hosts, name: platform.host(name).evolve(**changes)})


# -- the data ------------------------------------------------------------------------------


def test_the_real_data_names_what_runs_today(platform: Platform) -> None:
    mini, studio = platform.host("mini").takeover, platform.host("studio").takeover
    assert {u.unit for u in mini.units} == {
        "litellm-orch.service",
        "optillm-proxy.service",
        "searxng.service",
        "open-webui.service",
        "ov-server.service",
    }
    assert {u.unit for u in mini.units if u.same_name} == {
        "searxng.service",
        "open-webui.service",
        "ov-server.service",
    }
    assert mini.open_webui_data == "/home/christopherbailey/.open-webui"
    (job,) = studio.launchd_jobs
    assert job.label == "com.bebop.mlx-launch"
    mlx = platform.host("studio").get(MlxServers)
    assert mlx is not None
    team = {server_name(m.port) for m in mlx.served if m.tier == "team" and m.port is not None}
    enabled = {d.name for d in daemons(platform, "studio") if d.enabled}
    assert set(job.replaced_by) == enabled & team


def test_the_lab_inherits_the_legacy_job_as_a_unit(lab_platform: Platform) -> None:
    (unit,) = lab_platform.host("studio").takeover.units
    assert unit.unit == "com.bebop.mlx-launch.service"
    mlx = {d.name for d in daemons(lab_platform, "studio") if d.install == "mlx"}
    assert set(unit.replaced_by) == mlx
    assert lab_platform.host("mini").takeover.units, "the Mini's legacy units are inherited"


def with_mini_takeover(platform: Platform, **takeover: Any) -> Platform:
    return with_host(platform, "mini", takeover=takeover)


@pytest.mark.parametrize(
    ("takeover", "says"),
    [
        (
            {"units": [{"unit": "litellm-orch", "replaced_by": ["litellm"]}]},
            "String should match pattern",
        ),
        (
            {"units": [{"unit": "x.service", "replaced_by": ["litelm"]}]},
            "['litelm'] names no daemon of mini",
        ),
        (
            {"units": [{"unit": "open-webui.service", "replaced_by": ["open-webui"]}]},
            "is also the platform's unit for open-webui",
        ),
        (
            {"units": [{"unit": "x.service", "replaced_by": ["litellm"], "same_name": True}]},
            "same_name: the platform renders no unit 'x.service'",
        ),
        (
            {
                "units": [
                    {"unit": "x.service", "replaced_by": ["litellm"]},
                    {"unit": "x.service", "replaced_by": ["optillm"]},
                ]
            },
            "'x.service' is declared twice",
        ),
        (
            {
                "launchd_jobs": [
                    {"label": "a.b", "plist": "/L/a.b.plist", "replaced_by": ["litellm"]}
                ]
            },
            "mini runs systemd (rule: a host's legacy jobs are of its own init system: units)",
        ),
        ({"open_webui_data": "home/x/.open-webui"}, "String should match pattern '^/'"),
        ({"open_webui_data": "/var/lib/homelab-llm"}, "overlaps the platform's data directory"),
    ],
)
def test_bad_takeover_data_is_refused(
    platform: Platform, takeover: dict[str, Any], says: str
) -> None:
    with pytest.raises(ValidationError) as excinfo:
        with_mini_takeover(platform, **takeover)
    assert says in str(excinfo.value)


def test_systemd_units_on_the_mac_and_webui_data_without_webui_are_refused(
    platform: Platform,
) -> None:
    with pytest.raises(ValidationError, match=r"studio runs launchd \(rule: .*: launchd_jobs\)"):
        with_host(
            platform,
            "studio",
            takeover={"units": [{"unit": "x.service", "replaced_by": ["mlx-8100"]}]},
        )
    with pytest.raises(ValidationError, match="studio runs no Open WebUI"):
        with_host(platform, "studio", takeover={"open_webui_data": "/x"})


def test_check_lists_what_each_host_takes_over(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check"]) == 0
    lines = capsys.readouterr().out.splitlines()
    mini = next(line for line in lines if line.startswith("takeover mini: "))
    studio = next(line for line in lines if line.startswith("takeover studio: "))
    assert "litellm-orch.service -> litellm (stop, disable)" in mini
    assert "open-webui.service -> open-webui (same name" in mini
    assert "/home/christopherbailey/.open-webui (backed up, imported once)" in mini
    assert "com.bebop.mlx-launch -> mlx-8100, mlx-8101, mlx-8102 (launchd" in studio


def test_an_empty_takeover_says_nothing(platform: Platform) -> None:
    assert summary(with_mini_takeover(platform), "mini") == "takeover mini: nothing"


# -- the way back -----------------------------------------------------------------------------


def test_the_way_back_stops_ours_before_the_legacy_unit_starts(platform: Platform) -> None:
    lines = way_back(platform, "mini")
    orch = next(line for line in lines if "litellm-orch.service" in line)
    assert orch.index("disable --now litellm.service") < orch.index(
        "enable --now litellm-orch.service"
    )
    webui = next(line for line in lines if "open-webui.service.legacy" in line)
    assert webui.startswith("if [ -e /etc/systemd/system/open-webui.service.legacy ]")
    assert "cp -p /etc/systemd/system/open-webui.service.legacy " in webui
    (job,) = way_back(platform, "studio")
    assert job.index("launchctl disable system/com.homelab-llm.mlx-8100") < job.index(
        "launchctl bootstrap system /Library/LaunchDaemons/com.bebop.mlx-launch.plist"
    )


def test_way_back_of_the_lab_brings_its_legacy_unit_back(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["way-back", "studio", "--inventory", "lab/inventory.py"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert line.startswith("if systemctl cat com.bebop.mlx-launch.service ")
    assert "systemctl enable --now com.bebop.mlx-launch.service" in line


def test_way_back_without_a_takeover_is_an_error(
    platform: Platform, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = with_mini_takeover(platform)
    assert way_back(empty, "mini") == []
    monkeypatch.setattr("homelab.cli.load_platform", lambda inventory: empty)
    assert main(["way-back", "mini"]) == 1
    assert "took over nothing" in capsys.readouterr().err


def test_our_units_carry_the_mark_a_takeover_tells_them_by(platform: Platform) -> None:
    for d in daemons(platform, "mini"):
        assert RENDERED_MARK in daemon_files(platform, d)[0].content.splitlines()[0], d.name


# -- the Studio's takeover planned on @fake ---------------------------------------------------


LEGACY_LOADED: Responses = {
    "launchctl list": ["PID\tStatus\tLabel", "4242\t0\tcom.bebop.mlx-launch"],
}
LEGACY_GONE: Responses = {
    "launchctl print-disabled": [
        "disabled services = {",
        '\t"com.bebop.mlx-launch" => disabled',
        "}",
    ],
}


@pytest.fixture(scope="module")
def first_deploy(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    return planned_commands(tmp_path_factory.mktemp("legacy"), "studio", {"studio": LEGACY_LOADED})


def test_the_legacy_job_is_booted_out_and_disabled_before_the_first_mlx_server(
    first_deploy: list[str], platform: Platform
) -> None:
    bootout = first_deploy.index("launchctl bootout system/com.bebop.mlx-launch")
    disable = first_deploy.index("launchctl disable system/com.bebop.mlx-launch")
    first = platform.daemon("studio", server_name(8100))
    start = first_deploy.index(f"launchctl bootstrap system {first.unit_path}")
    assert bootout < disable < start
    assert not [c for c in first_deploy if "com.bebop.mlx-launch" in c and "rm " in c]
    assert sum("com.bebop.mlx-launch" in c for c in first_deploy) == 2, "once, not per server"


def test_a_host_taken_over_runs_no_takeover(tmp_path: Path) -> None:
    commands = planned_commands(tmp_path, "studio", {"studio": LEGACY_GONE})
    assert not [c for c in commands if "com.bebop.mlx-launch" in c]


def test_disabled_jobs_are_read_from_both_spellings() -> None:
    fact = LaunchdDisabled()
    lines = ['\t"a.b" => disabled', '\t"c.d" => enabled', '\t"e.f" => true', '\t"g.h" => false']
    assert fact.process(lines) == {"a.b", "e.f"}


# -- Open WebUI's data, imported once ---------------------------------------------------------


def legacy_data(root: Path) -> Path:
    legacy = root / "legacy"
    (legacy / "uploads").mkdir(parents=True)
    (legacy / "uploads" / "a.txt").write_text("uploaded")
    con = sqlite3.connect(legacy / "webui.db")
    with con:
        con.execute("CREATE TABLE user (id TEXT, email TEXT)")
        con.execute("CREATE TABLE chat (id TEXT, title TEXT)")
        con.execute("INSERT INTO user VALUES ('1', 'old@home.lan')")
        con.execute("INSERT INTO chat VALUES ('c1', 'before the takeover')")
    con.close()
    return legacy


def test_import_copies_the_database_and_uploads_owned_by_the_service(tmp_path: Path) -> None:
    legacy, new = legacy_data(tmp_path), tmp_path / "new"
    done = import_data(legacy, new, "webui.db", ["uploads"], getpass.getuser())
    assert done["counts"] == {"user": 1, "chat": 1}
    con = sqlite3.connect(new / "webui.db")
    assert con.execute("SELECT title FROM chat").fetchall() == [("before the takeover",)]
    con.close()
    assert (new / "uploads" / "a.txt").read_text() == "uploaded"
    assert oct((new / "webui.db").stat().st_mode & 0o777) == "0o600"
    assert oct((new / "uploads").stat().st_mode & 0o777) == "0o700"
    assert (legacy / "webui.db").exists(), "the legacy data stays"


def test_import_never_overwrites_a_database(tmp_path: Path) -> None:
    legacy, new = legacy_data(tmp_path), tmp_path / "new"
    new.mkdir()
    (new / "webui.db").write_bytes(b"mine")
    with pytest.raises(BackupError, match="exists: nothing imported"):
        import_data(legacy, new, "webui.db", ["uploads"], getpass.getuser())
    assert (new / "webui.db").read_bytes() == b"mine"
    assert not (new / "uploads").exists()


def test_import_without_legacy_data_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(BackupError, match="nothing to import"):
        import_data(tmp_path / "none", tmp_path / "new", "webui.db", [], getpass.getuser())


# -- the dossier ------------------------------------------------------------------------------


def test_the_dossier_says_where_the_platform_differs_and_why(
    platform: Platform, tmp_path: Path
) -> None:
    from homelab.dossier import WHY_OWN_USER, differences, write_dossier

    found = {(d.legacy, d.what) for d in differences(platform)}
    assert ("litellm-orch.service", "unit name") in found
    assert ("litellm-orch.service", "runs as litellm, not christopherbailey") in found
    assert ("com.bebop.mlx-launch", "one job per port") in found
    assert not [
        d for d in differences(platform) if d.legacy == "searxng.service" and d.what == "unit name"
    ]
    text = (write_dossier(platform, tmp_path)[0]).read_text()
    section = text.split("## Differences from the hand-built setup")[1].split("## ")[0]
    assert WHY_OWN_USER in section
    assert "`/home/christopherbailey/.open-webui`" in section
    empty = platform.evolve(
        hosts={name: host.evolve(takeover={}) for name, host in platform.hosts.items()}
    )
    assert differences(empty) == []


def test_the_way_back_closes_the_gateways_socket_too(platform: Platform) -> None:
    """Our socket unit holds the gateway's port: left open, the legacy gateway could not bind."""
    gateway = next(d for d in daemons(platform, "mini") if d.name == "litellm")
    assert gateway.socket_path is not None
    (line,) = [line for line in way_back(platform, "mini") if "litellm-orch.service" in line]
    assert f"systemctl disable --now {gateway.unit} {gateway.socket_unit} " in line, line
