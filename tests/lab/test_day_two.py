"""Day two on the lab: a set over an MLX host's memory budget refused with nothing restarted; a
leftover unit serving a port named by verify, then removed by the next deploy. (Models added,
moved and dropped, with clients on the gateway throughout: ``test_day_two_story.py``, which
uses the helpers here.)

Each step deploys a variant of the lab's data (the lab's own group data, changed, in a temporary
folder, the way ``test_deploy.py`` turns the OptiLLM mode off) and prints its deploy time and
the daemons it restarted, read from their main PIDs. The lab ends on its own data, verified,
with nothing left over. The session holds the lab lock (``conftest.lab_lock``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from homelab import PROJECT_ROOT
from homelab.load import load_platform
from homelab.model import Platform
from homelab.model.system import UNIT_MARK
from homelab.services import daemons, mlx
from homelab.services.mlx import MlxServers
from tests.lab.conftest import LAB_INVENTORY, changed, deploy, refused_deploy, ssh
from tests.lab.test_deploy import answered_by_mlx, chat

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root"),
]

VARIANT = """
from homelab.groupdata import siblings

__all__ = ["platform"]

_lab = siblings({lab!r}, "all")["all"]["platform"]
_host = _lab.hosts[{host!r}]
_mlx = _host.services[{key!r}].model_dump()
platform = _lab.evolve(hosts={{**_lab.hosts, {host!r}: _host.evolve({key}={{**_mlx, **{mlx!r}}})}})
"""


def mlx_host(platform: Platform) -> tuple[str, MlxServers]:
    """The first host whose data serves MLX models, and its MLX data: the one day two changes."""
    return next(mlx.SERVICE.placed(platform))


class Variants:
    """Inventories of the lab with one host's MLX data changed, each in a folder of its own."""

    def __init__(self, root: Path, host: str) -> None:
        self.root = root
        self.host = host
        self.count = 0
        #: Whether the lab was last deployed with a variant (and must go back to its data).
        self.dirty = False
        #: The last step's deploy results.
        self.results: dict[str, Any] = {}

    def __call__(self, **mlx: Any) -> Path:
        self.count += 1
        folder = self.root / f"variant-{self.count}"
        (folder / "group_data").mkdir(parents=True)
        (folder / "inventory.py").write_text(LAB_INVENTORY.read_text())
        lab_all = str(PROJECT_ROOT / "lab" / "group_data" / "all.py")
        text = VARIANT.format(lab=lab_all, host=self.host, key=MlxServers.key, mlx=mlx)
        (folder / "group_data" / "all.py").write_text(textwrap.dedent(text))
        return folder / "inventory.py"

    def step(self, name: str, inventory: Path) -> tuple[Platform, list[str]]:
        """Deploy ``inventory``; print the step's time and restarts; the platform, restarted."""
        platform = load_platform(inventory)
        before = main_pids(platform)
        self.dirty = inventory != LAB_INVENTORY
        start = time.monotonic()
        results = self.results = deploy(inventory)
        seconds = time.monotonic() - start
        again = restarted(before, main_pids(platform))
        print(
            f"\n{time.strftime('%H:%M:%S')} {name}: deploy {seconds:.1f} s, "
            f"{len(changed(results))} changed operations, "
            f"restarted {', '.join(again) or 'nothing'}"
        )
        return platform, again


@pytest.fixture
def variants(tmp_path: Path) -> Iterator[Variants]:
    host, _servers = mlx_host(load_platform(LAB_INVENTORY))
    v = Variants(tmp_path, host)
    yield v
    if v.dirty:  # a step failed on a variant: the lab goes back to its own data
        deploy()


def main_pids(platform: Platform) -> dict[str, str]:
    """``host/unit`` -> ``PID@start`` of every enabled daemon's main process ("0": not running),
    every host.

    With its start time (the kernel's monotonic clock, one for all the lab's hosts): a host that
    boots again starts its services in the same order, and they often get the same PIDs."""
    out: dict[str, str] = {}
    for host in platform.hosts:
        units = [d.unit for d in daemons(platform, host) if d.enabled]
        if not units:
            continue
        text = ssh(
            host,
            f"systemctl show -p Id -p MainPID -p ExecMainStartTimestampMonotonic {' '.join(units)}",
        ).stdout
        for block in text.strip().split("\n\n"):
            fields = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
            pid = fields["MainPID"]
            started = fields.get("ExecMainStartTimestampMonotonic", "")
            out[f"{host}/{fields['Id']}"] = pid if pid == "0" else f"{pid}@{started}"
    return out


def restarted(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """Daemons whose main process is new (started or restarted) since ``before``."""
    return sorted(d for d, pid in after.items() if pid != "0" and before.get(d) != pid)


def gone(host: str, port: int, unit: str) -> None:
    """Nothing of a retired server is left on its host: its unit file, its unit, its port."""
    path = f"/etc/systemd/system/{unit}"
    out = ssh(
        host,
        f"test -e {path} && echo file; systemctl show -p LoadState {unit}; "
        f"ss -Hltn 'sport = :{port}'",
    ).stdout.splitlines()
    assert "file" not in out, f"{path} left over"
    assert "LoadState=not-found" in out, f"{unit}: expected not-found, found {out}"
    listening = [line for line in out if f":{port} " in line]
    assert not listening, f"port {port} still listening after its server left: {listening}"


def verify(inventory: Path, tmp_path: Path, *only: str) -> subprocess.CompletedProcess[str]:
    """The verify suite (or the checks ``only`` names), run against ``inventory``."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            *(only or ("verify",)),
            "--inventory",
            str(inventory),
            "-q",
            "-p",
            "no:cacheprovider",
            f"--junitxml={tmp_path / 'verify.xml'}",
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def green(inventory: Path, tmp_path: Path, *only: str) -> None:
    """The verify suite, leftovers included, against the data just deployed: green."""
    start = time.monotonic()
    result = verify(inventory, tmp_path, *only)
    print(f"verify: {time.monotonic() - start:.1f} s")
    failed = [line for line in result.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))]
    assert result.returncode == 0, "verify failed:\n" + "\n".join(failed or [result.stdout[-3000:]])


def answers(platform: Platform, model_id: str) -> None:
    body = chat(platform, model_id)
    assert answered_by_mlx(body, platform), body


def test_a_set_over_the_budget_is_refused_with_nothing_restarted(
    lab: dict[str, Any], variants: Variants
) -> None:
    platform = load_platform(LAB_INVENTORY)
    host, servers = mlx_host(platform)
    assert variants.host == host
    before = main_pids(platform)
    budget = 0.0003  # GB: less than the lab's three tiny models take (3 x 158 kB)
    inventory = variants(memory_budget_gb=budget)
    seconds, output = refused_deploy(inventory)
    (line,) = [line for line in output.splitlines() if "over the memory budget" in line]
    print(f"\nrefused in {seconds:.1f} s: {line.strip()}")
    for m in servers.served:
        assert m.model_id in line, line
    assert f"{host}.{MlxServers.key}.memory_budget_gb = {budget:g}" in line, line
    assert "Starting operation" not in output, "operations ran on a refused set"
    assert restarted(before, main_pids(platform)) == [], "a refused deploy restarted something"


STALE_UNIT = """# {unit}: {mark}
[Unit]
Description=a server the data no longer names
[Service]
ExecStart=/usr/bin/python3 -m http.server {port} --bind 0.0.0.0
[Install]
WantedBy=multi-user.target
"""


def test_verify_names_a_leftover_and_the_deploy_removes_it(
    lab: dict[str, Any], tmp_path: Path
) -> None:
    """A unit of the platform's naming that the data does not name, serving a port: verify
    fails naming both; the next deploy stops and removes it; verify is green again."""
    host, _servers = mlx_host(load_platform(LAB_INVENTORY))
    port, unit = 8119, f"{mlx.server_name(8119)}.service"
    text = STALE_UNIT.format(unit=unit, mark=UNIT_MARK, port=port)
    placed = ssh(
        host,
        f"cat > /etc/systemd/system/{unit} <<'EOF'\n{text}EOF\n"
        f"systemctl daemon-reload && systemctl enable --now {unit} && "
        f"for i in $(seq 50); do ss -Hltn 'sport = :{port}' | grep -q . && break; sleep 0.2; done",
    )
    assert placed.returncode == 0, placed.stderr
    try:
        result = verify(LAB_INVENTORY, tmp_path, "verify/test_leftovers.py")
        assert result.returncode != 0, "verify missed a leftover unit and its port"
        failed = [line for line in result.stdout.splitlines() if line.startswith("FAILED")]
        print("\n" + "\n".join(failed))
        assert any(f"{unit} left over" in line for line in failed), failed
        assert any(f"port {port} on 0.0.0.0" in line for line in failed), failed
        results = deploy()
        stop = f"Remove what the data no longer names | Stop and disable {unit} "
        assert any(
            name.endswith(f"{stop}(the data no longer names it)") for name in changed(results)
        )
        gone(host, port, unit)
        green(LAB_INVENTORY, tmp_path, "verify/test_leftovers.py")
    finally:
        ssh(
            host,
            f"systemctl disable --now {unit}; rm -f /etc/systemd/system/{unit}; "
            "systemctl daemon-reload",
        )
