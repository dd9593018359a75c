"""The gateway as deployed, against a stub upstream: transient LiteLLMs beside the live one.

Nothing of the deployed gateway changes. For each variant the benchmark renders, from the
lab's platform model, the litellm daemon's unit (same venv, argv, environment, hardening),
its router.yaml (the model's routes plus one ``bench-stub`` handle) and its env file, puts
them under ``/run`` on the gateway's host (runtime only: gone at the host's next boot) and
starts them as a unit of their own on a spare port. The stub runs the same way on another host
(an upstream across the network, as the gateway's are). Everything is stopped and removed at
the end, also when a step fails.
"""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.lab import Lab, wait_http
from bench.units import require_systemd
from homelab.model import Platform
from homelab.model.naming import Backend
from homelab.model.routing import Route
from homelab.render.files import env_file
from homelab.render.units import systemd_unit
from homelab.services import Daemon, daemon_named
from homelab.services.litellm import SERVICE as LITELLM
from homelab.services.litellm import environment, gateway_host, router_yaml

STUB_PORT = 8190  # outside the MLX (8100-8139) and OptiLLM (4040-4042) ranges
STUB_MODEL = "bench-stub"
STUB_UNIT = "homelab-bench-stub"
RUN_DIR = "/run/homelab-bench"
UNIT_DIR = "/run/systemd/system"
STUB_SOURCE = Path(__file__).with_name("stub.py")


def stub_host(platform: Platform) -> str:
    """Where the stub runs: the first host that is not the gateway's (the gateway's own when
    it is alone), so a request crosses the network as it does to a real upstream."""
    home = gateway_host(platform)
    return next((name for name in platform.hosts if name != home), home)


@contextmanager
def stub_upstream(
    lab: Lab, platform: Platform, host: str | None = None, serial_ms: float = 0
) -> Iterator[str]:
    """The stub on ``host`` (default :func:`stub_host`), for the benchmark only; yields its
    base URL (``.../v1``). ``serial_ms``: one completion at a time, that long each."""
    host = host or stub_host(platform)
    require_systemd(platform, host, "the stub upstream")
    address = platform.addresses[host]
    lab.stop_units(host, f"{STUB_UNIT}.service")
    lab.put(host, f"{RUN_DIR}/stub.py", STUB_SOURCE.read_text())
    lab.sh(
        host,
        f"systemd-run --quiet --unit={STUB_UNIT} --property=DynamicUser=yes "
        f"/usr/bin/python3 {RUN_DIR}/stub.py --host {address} --port {STUB_PORT}"
        f" --serial-ms {serial_ms}",
    )
    try:
        wait_http(f"http://{address}:{STUB_PORT}/health", timeout=30)
        yield f"http://{address}:{STUB_PORT}/v1"
    finally:
        lab.stop_units(host, f"{STUB_UNIT}.service")
        lab.sh(host, f"rm -rf {RUN_DIR}")


def stub_route(api_base: str) -> Route:
    return Route(
        handle=STUB_MODEL,
        backend=Backend.MLX,
        upstream_model=STUB_MODEL,
        api_base=api_base,
        max_input_tokens=2048,
        max_output_tokens=32,
    )


@dataclass(frozen=True)
class Variant:
    """One transient gateway: a label, a port, the platform it is rendered from."""

    label: str
    port: int
    platform: Platform
    extra_routes: tuple[Route, ...] = ()

    @property
    def name(self) -> str:
        return f"bench-litellm-{self.label}"

    @property
    def dir(self) -> str:
        return f"{RUN_DIR}/{self.label}"

    @property
    def host(self) -> str:
        """The gateway's host: where the variant runs beside the deployed gateway."""
        return gateway_host(self.platform)

    def deployed(self) -> Daemon:
        return daemon_named(self.platform, self.host, LITELLM.name)

    def daemon(self) -> Daemon:
        """The deployed daemon, pointed at this variant's files and port."""
        live = self.deployed()
        swap = {"--config": f"{self.dir}/router.yaml", "--port": str(self.port)}
        argv = list(live.argv)
        for i, arg in enumerate(argv[:-1]):
            if arg in swap:
                argv[i + 1] = swap[arg]
        secrets = (live.secrets_env,) if live.secrets_env else ()
        return dataclasses.replace(
            live,
            name=self.name,
            argv=tuple(argv),
            env_files=(f"{self.dir}/env", *secrets),
            secrets={},
            # A transient gateway binds its own port: no socket unit is made for it.
            socket_activated=False,
        )

    def files(self) -> dict[str, tuple[str, str]]:
        """path -> (content, mode) of the unit, router.yaml and env file on its host."""
        daemon = self.daemon()
        unit = systemd_unit(daemon)
        env = env_file(f"{self.dir}/env", "bench", environment(self.platform), daemon)
        return {
            f"{UNIT_DIR}/{daemon.unit}": (unit.content, "0644"),
            f"{self.dir}/router.yaml": (
                router_yaml(self.platform, extra_routes=self.extra_routes),
                "0644",
            ),
            env.path: (env.content, "0644"),
        }


@contextmanager
def transient_gateways(lab: Lab, variants: list[Variant]) -> Iterator[dict[str, str]]:
    """Start each variant on the gateway's host; yields label -> base URL; stops and removes
    them after."""
    if not variants:
        yield {}
        return
    platform = variants[0].platform
    host = variants[0].host
    others = sorted({v.host for v in variants} - {host})
    if others:
        raise ValueError(f"variants on {host} and {', '.join(others)}: one gateway host at a time")
    require_systemd(platform, host, "a transient gateway")
    address = platform.addresses[host]
    units = [f"{v.name}.service" for v in variants]
    lab.stop_units(host, *units)
    try:
        for variant in variants:
            for path, (content, mode) in variant.files().items():
                lab.put(host, path, content, mode=mode)
        lab.sh(host, f"chmod 0755 {RUN_DIR} && systemctl daemon-reload")
        lab.sh(host, "systemctl start " + " ".join(shlex.quote(u) for u in units))
        urls = {}
        for variant in variants:
            base = f"http://{address}:{variant.port}"
            wait_http(f"{base}/health/liveliness", timeout=240)
            urls[variant.label] = base
        yield urls
    finally:
        lab.stop_units(host, *units)
        state = variants[0].deployed().layout.state
        lab.sh(
            host,
            "rm -f "
            + " ".join(f"{UNIT_DIR}/{u}" for u in units)
            + f" && rm -rf {RUN_DIR}"
            + "".join(f" {state}/{v.name}" for v in variants)
            + " && systemctl daemon-reload",
        )


def mode(platform: Platform, on: bool) -> Platform:
    gateway = platform.gateway.model_copy(update={"route_via_optillm": on})
    return platform.model_copy(update={"gateway": gateway})
