"""The rendered router.yaml is accepted by the pinned LiteLLM's own config loader.

LiteLLM runs from a venv built from the very lock the deploy installs (cached between runs),
with the checker the deploy's config guard uses on the host.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from homelab import PROJECT_ROOT
from homelab.load import load_platform
from homelab.locks import lock_for
from homelab.model import Platform
from homelab.services import daemon_named
from homelab.services import litellm as litellm_files

CHECKER = PROJECT_ROOT / "deploys" / "scripts" / "check_litellm_config.py"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "homelab-llm"


@pytest.fixture(scope="module")
def litellm_python(platform: Platform) -> Path:
    lock = lock_for(daemon_named(platform, "mini", "litellm")).path
    venv = CACHE / f"litellm-{hashlib.sha256(lock.read_bytes()).hexdigest()[:12]}"
    python = venv / "bin" / "python"
    if not (venv / ".complete").exists():
        subprocess.run(["uv", "venv", "-q", "--python", "3.11", str(venv)], check=True)
        subprocess.run(["uv", "pip", "sync", "-q", "--python", str(python), str(lock)], check=True)
        (venv / ".complete").touch()
    return python


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
    return subprocess.run(
        [str(python), str(CHECKER), *map(str, configs)],
        env={"PATH": os.environ["PATH"], "HOME": str(CACHE), **env},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
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
