"""The lab's deploy on pyinfra's fake connector: the tiny-MLX substitute makes each served
model, in the servers' venv, before that model's server first starts, on every host of the lab
that serves MLX models (the Studio's stand-in, and any other Mac's the lab's inventory lists)."""

from __future__ import annotations

import pytest

from homelab import PROJECT_ROOT
from homelab.model import Platform
from homelab.services.mlx import MlxServers, server_name
from tests.fast.fakeplan import LAB, first, planned_by_host


@pytest.fixture(scope="module")
def lab_plans(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """Every lab host's plan, from one run."""
    folder = tmp_path_factory.mktemp("lab-plan")
    (folder / "group_data").symlink_to(PROJECT_ROOT / "lab" / "group_data")
    return planned_by_host(folder, inventory=LAB)


def mlx_hosts(platform: Platform) -> dict[str, MlxServers]:
    return {name: mlx for name, host in platform.hosts.items() if (mlx := host.get(MlxServers))}


def test_the_studio_serves_mlx_in_the_lab(lab_platform: Platform) -> None:
    assert "studio" in mlx_hosts(lab_platform)


def test_each_tiny_model_is_made_before_its_server_starts(
    lab_plans: dict[str, list[str]], lab_platform: Platform
) -> None:
    for name, mlx in mlx_hosts(lab_platform).items():
        served = mlx.served
        assert served, f"the lab serves no MLX model on {name}"
        commands = lab_plans[name]
        venv = first(commands, f"{name}: the servers' venv", "uv venv")
        for model in served:
            assert model.port is not None, model.model_id  # a served model has its port
            unit = lab_platform.daemon(name, server_name(model.port)).unit
            made = first(
                commands,
                f"{name}: make {model.model_id}",
                f"make_tiny_model.py {model.source_path} ",
            )
            started = first(commands, f"{name}: start {unit}", f"systemctl start {unit}")
            assert venv < made < started, (name, model.model_id, venv, made, started)


def test_llama_cpps_run_time_library_comes_before_its_server_first_runs(
    lab_plans: dict[str, list[str]],
) -> None:
    """Whether or not the deploy builds the server: a cached wheel brings no compiler, and
    with it none of the libraries a compiler pulls in."""
    commands = lab_plans["mini"]
    library = first(commands, "libgomp1 installed", "apt-get", "install", "libgomp1")
    ran = first(commands, "llama-server's first run", "llama-server", "--version")
    assert library < ran, (library, ran)
