"""The rendered router.yaml is accepted by the pinned LiteLLM's own config loader.

LiteLLM runs from a venv built from the very lock the deploy installs (cached between runs),
with the checker the deploy's config guard uses on the host. One process of that venv serves
every check of this module (``litellm_driver.py``): LiteLLM's import is paid once.
"""

from __future__ import annotations

import hashlib
import json
import os
import select
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from homelab import PROJECT_ROOT
from homelab.load import load_platform
from homelab.locks import lock_for
from homelab.model import Platform
from homelab.services import daemon_named
from homelab.services import litellm as litellm_files

CHECKER = PROJECT_ROOT / "deploys" / "scripts" / "check_litellm_config.py"
DRIVER = Path(__file__).with_name("litellm_driver.py")
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "homelab-llm"

# LiteLLM's import alone takes over ten seconds of CPU, and a first run builds its venv.
pytestmark = pytest.mark.slow


class Driver:
    """The checker served by one process of LiteLLM's venv, one request at a time."""

    def __init__(self, python: Path, log: Path) -> None:
        self.log = log
        with log.open("wb") as stderr:
            self.process = subprocess.Popen(
                [str(python), str(DRIVER), str(CHECKER)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                env={"PATH": os.environ["PATH"], "HOME": str(CACHE)},
                text=True,
            )

    def check(
        self, argv: list[str], env: dict[str, str], timeout: float
    ) -> subprocess.CompletedProcess[str]:
        """What ``python CHECKER ARGV`` with ``env`` exits with and prints (and LiteLLM logs)."""
        assert self.process.stdin is not None and self.process.stdout is not None
        logged = self.log.stat().st_size
        self.process.stdin.write(json.dumps({"argv": argv, "env": env}) + "\n")
        self.process.stdin.flush()
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        if not ready:
            self.close()
            raise subprocess.TimeoutExpired([str(CHECKER), *argv], timeout)
        line = self.process.stdout.readline()
        log = self.log.read_bytes()[logged:].decode(errors="replace")
        if not line:  # the checker raised: the driver is gone, its traceback logged
            return subprocess.CompletedProcess(argv, self.process.wait(), "", log)
        answer = json.loads(line)
        return subprocess.CompletedProcess(
            argv, answer["code"], answer["stdout"], answer["stderr"] + log
        )

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


#: The driver of each venv's python, while the module's tests run.
DRIVERS: dict[Path, Driver] = {}


@pytest.fixture(scope="module")
def litellm_python(platform: Platform, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    lock = lock_for(daemon_named(platform, "mini", "litellm")).path
    venv = CACHE / f"litellm-{hashlib.sha256(lock.read_bytes()).hexdigest()[:12]}"
    python = venv / "bin" / "python"
    if not (venv / ".complete").exists():
        subprocess.run(["uv", "venv", "-q", "--python", "3.11", str(venv)], check=True)
        subprocess.run(["uv", "pip", "sync", "-q", "--python", str(python), str(lock)], check=True)
        (venv / ".complete").touch()
    DRIVERS[python] = Driver(python, tmp_path_factory.mktemp("litellm") / "stderr.log")
    yield python
    DRIVERS.pop(python).close()


def rendered(platform: Platform, tmp: Path, name: str) -> tuple[Path, dict[str, str]]:
    config = tmp / f"{name}.yaml"
    config.write_text(litellm_files.router_yaml(platform))
    env = dict(litellm_files.environment(platform))
    # The secrets exist on the host only; here any value will do.
    env |= {var: "test-secret" for var in daemon_named(platform, "mini", "litellm").secrets}
    return config, env


def check(
    python: Path, configs: list[Path], env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    return DRIVERS[python].check(
        list(map(str, configs)),
        {"PATH": os.environ["PATH"], "HOME": str(CACHE), **env},
        timeout=180,
    )


def test_real_and_lab_configs_are_accepted(
    litellm_python: Path, platform: Platform, tmp_path: Path
) -> None:
    lab = load_platform(PROJECT_ROOT / "lab" / "inventory.py")
    real_config, real_env = rendered(platform, tmp_path, "real")
    lab_config, lab_env = rendered(lab, tmp_path, "lab")
    result = check(litellm_python, [real_config, lab_config], real_env | lab_env)
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]
    assert "ok: 2 config(s) accepted" in result.stdout


def test_the_checker_refuses_what_litellm_lets_through(
    litellm_python: Path, platform: Platform, tmp_path: Path
) -> None:
    config, env = rendered(platform, tmp_path, "real")
    text = config.read_text()
    broken = tmp_path / "broken.yaml"
    broken.write_text(text.replace("model_list:", "modle_list: {}\nmodel_list:", 1))
    unset = sorted(k for k in env if k.endswith("_API_BASE"))[0]
    result = check(litellm_python, [broken], {k: v for k, v in env.items() if k != unset})
    assert result.returncode == 1
    assert "unknown top-level key 'modle_list'" in result.stdout
    assert f"os.environ/{unset} is referenced but not set" in result.stdout


def test_the_listing_hook_loads_for_a_candidate_in_another_folder(
    litellm_python: Path, platform: Platform, tmp_path: Path
) -> None:
    """The deploy checks a candidate router.yaml in its staging folder: the listing hook's
    module (gateway.list_aliases_only), named by its absolute path, is found all the same."""
    name = litellm_files.gateway_host(platform)
    host = platform.hosts[name]
    moved = host.evolve(layout=host.layout.evolve(etc=str(tmp_path / "etc")))
    fast = {"name": "fast", "handles": ("ov-qwen2-5-3b-instruct-fp16",)}
    gw = platform.gateway.evolve(aliases=(fast,), list_aliases_only=True)
    listing = platform.evolve(hosts={**platform.hosts, name: moved}, gateway=gw)
    module = Path(litellm_files.listing_module(listing))
    module.parent.mkdir(parents=True)
    module.write_text(litellm_files.listing_py(listing))
    (tmp_path / "staging").mkdir()
    config, env = rendered(listing, tmp_path / "staging", "router")
    result = check(litellm_python, [config], env)
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]
