"""Running commands on the lab's hosts and placing benchmark-only processes there."""

from __future__ import annotations

import shlex
import subprocess
import sys
import time
from dataclasses import dataclass

import httpx

from homelab import PROJECT_ROOT
from homelab.lab.config import LabConfig, load_config
from homelab.lab.ssh import ssh_argv
from homelab.model import Platform
from homelab.services.litellm import gateway, gateway_host


@dataclass(frozen=True)
class Lab:
    config: LabConfig

    @classmethod
    def load(cls) -> Lab:
        return cls(load_config())

    def address(self, host: str) -> str:
        return self.config.address(host)

    def sh(self, host: str, command: str, *, stdin: str | None = None, timeout: float = 60) -> str:
        """Run a shell line on a lab host as root; raise with its output when it fails."""
        result = subprocess.run(
            ssh_argv(self.config, host, [command]),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{host}: {command!r} exited {result.returncode}: "
                f"{(result.stderr or result.stdout).strip()[-2000:]}"
            )
        return result.stdout

    def put(
        self, host: str, path: str, content: str, mode: str = "0644", owner: str = "root"
    ) -> None:
        q = shlex.quote
        self.sh(
            host,
            f"mkdir -p $(dirname {q(path)}) && cat > {q(path)} && chmod {mode} {q(path)}"
            f" && chown {q(owner)} {q(path)}",
            stdin=content,
        )

    def stop_units(self, host: str, *units: str) -> None:
        """Stop transient or runtime systemd units (no error when one is already gone)."""
        if units:
            names = " ".join(shlex.quote(u) for u in units)
            self.sh(
                host,
                f"systemctl stop {names} 2>/dev/null; systemctl reset-failed {names} "
                "2>/dev/null; true",
            )


def run_lab(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """``homelab lab ARGS`` in a child process, as an operator runs it."""
    return subprocess.run(
        [sys.executable, "-m", "homelab.lab", *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def lab_command(*args: str, timeout: float = 600) -> None:
    """``homelab lab ARGS``; raise with its output when it fails."""
    result = run_lab(*args, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"homelab lab {' '.join(args)} failed: {result.stderr.strip()[-2000:]}")


def lan_gateway_url(platform: Platform, path: str = "/v1") -> str:
    """The gateway as a LAN client reaches it (the benchmarks run on the lab's machine): at its
    host's address."""
    home = gateway_host(platform)
    return f"http://{platform.addresses[home]}:{gateway(platform).listener.port}{path}"


def gateway_key(lab: Lab, platform: Platform) -> str:
    """The gateway key the gateway's host generated (read from its secret store)."""
    home = gateway_host(platform)
    key_file = platform.host(home).layout.secret_file(platform.gateway.proxy_key.env)
    return lab.sh(home, f"cat {shlex.quote(key_file)}").strip()


def wait_http(url: str, *, timeout: float = 180, headers: dict[str, str] | None = None) -> None:
    """Wait until ``url`` answers 200 (a service started for the benchmark is ready)."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            response = httpx.get(url, timeout=5, headers=headers)
            if response.status_code == 200:
                return
            last = f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            last = str(exc)
        time.sleep(0.5)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s ({last})")
