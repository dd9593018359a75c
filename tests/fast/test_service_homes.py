"""Each service has one home, and the lab's substitutes stay in the lab's code."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from homelab import PROJECT_ROOT
from homelab.model import Host, Platform
from homelab.services import SERVICES, daemons, host_files, services
from homelab.services.litellm import LiteLLM
from homelab.services.mlx import MlxServers
from homelab.services.open_webui import OpenWebUI

#: Words only the lab's substitutes use: Debian's searx program and its settings variable, the
#: ov-server stand-in, the offline switches, the tiny models.
LAB_ONLY = ("searx-run", "SEARX_SETTINGS_PATH", "standins", "OFFLINE_MODE", "make_tiny_model")


@pytest.mark.parametrize("word", LAB_ONLY)
def test_no_lab_substitute_in_production_code(word: str) -> None:
    found = subprocess.run(
        ["git", "grep", "-n", "-F", word, "--", "homelab", "deploys", ":!homelab/lab"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
    )
    assert found.returncode in (0, 1), f"git grep failed: {found.stderr}"
    assert found.stdout == "", f"{word!r} outside the lab's code:\n{found.stdout}"


def test_every_service_module_has_its_deploy_and_templates() -> None:
    """homelab/services/<x>.py's service is put on a host by a deployer of deploys/<x>.py."""
    # pyinfra's deploy side, imported when needed; the registry imports every deployer.
    import deploys.registry  # noqa: F401
    from deploys.service import deployer_for

    for service in SERVICES:
        deployer = deployer_for(service)
        home = type(service).__module__.removeprefix("homelab.services.")
        module = type(deployer).__module__
        assert module == f"deploys.{home}", f"{service.name}: deployed by {module}"
        path = PROJECT_ROOT / Path(*module.split(".")).with_suffix(".py")
        assert path.is_file(), f"{service.name}: no {path}"
        assert f"class {type(deployer).__name__}(" in path.read_text(), path


def test_each_daemon_belongs_to_one_service(platform: Platform) -> None:
    for host in platform.hosts:
        names = [d.name for s in services(platform, host) for d in s.daemons(platform, host)]
        assert sorted(names) == sorted(d.name for d in daemons(platform, host))
        assert len(names) == len(set(names)), names


def test_the_lab_substitutes_and_the_real_platform_does_not(
    platform: Platform, lab_platform: Platform
) -> None:
    assert platform.substitutes == ()
    swapped = {s.name for s in lab_platform.substitutes}
    assert swapped == {"searxng", "ov-server", "open-webui", "mlx", "llama-cpp", "hub-mirror"}
    for service in services(lab_platform):
        real = next(s for s in SERVICES if s.name == service.name)
        assert isinstance(service, type(real)), f"{service.name}: not a kind of the real service"


def test_lab_searx_settings_variable_is_the_substitutes(lab_platform: Platform) -> None:
    searx = next(d for d in daemons(lab_platform, "mini") if d.name == "searxng")
    assert searx.environment == {"SEARX_SETTINGS_PATH": searx.config}
    assert searx.argv == ("/usr/bin/searx-run",)


def test_partial_listener_override_keeps_the_lan() -> None:
    litellm = LiteLLM.model_validate({"listener": {"port": 4001}})
    assert litellm.listener.port == 4001
    assert litellm.listener.lan, "a port change must not make the gateway loopback-only"
    assert litellm.listener.lan_reason == LiteLLM().listener.lan_reason


def test_loopback_on_purpose_drops_the_default_reason() -> None:
    litellm = LiteLLM.model_validate({"listener": {"exposure": "loopback"}})
    assert not litellm.listener.lan
    assert litellm.listener.port == LiteLLM().listener.port


def test_partial_package_override_keeps_the_requirement(platform: Platform) -> None:
    data = platform.host("mini").model_dump()
    data["open_webui"] = {"package": {"version": "0.12.3"}}
    webui = Host.model_validate(data).get(OpenWebUI)
    assert webui is not None
    assert webui.package.version == "0.12.3"
    assert webui.package.requirement == "open-webui"
    assert webui.listener.lan


def test_mlx_paths_derive_from_the_model_id_and_repo(platform: Platform) -> None:
    studio = platform.host("studio")
    mlx = studio.get(MlxServers)
    assert mlx is not None
    first = mlx.models[0]
    assert first.source_path == f"{mlx.models_dir}/{first.model_id.removeprefix('mlx-')}"
    assert first.cache_path == (f"{studio.hf_home}/hub/models--{first.repo.replace('/', '--')}")


@pytest.mark.parametrize("host", ["mini", "studio"])
def test_host_files_have_one_owner_each(platform: Platform, host: str) -> None:
    paths = [f.path for f in host_files(platform, host)]
    assert len(paths) == len(set(paths)), sorted(p for p in paths if paths.count(p) > 1)
