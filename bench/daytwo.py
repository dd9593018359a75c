"""Day-two figures: what a change to the data costs the running platform.

- ``gateway_change``: a steady client sends chat requests to an ``ov-*`` handle while a deploy
  changes the gateway's ``num_retries`` (and another puts it back): failed requests, latency.
- ``gateway_restart``: the same clients, one more on an MLX handle through OptiLLM (which calls
  the gateway back), while a deploy restarts the gateway (its environment changed; a new venv
  restarts it the same way) and another puts it back.
- ``model_added``: a deploy that adds one MLX model: its wall time, and which daemons restarted
  (by main PID), which should be the new server alone.
"""

from __future__ import annotations

import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench import converge, variant
from bench.lab import Lab, gateway_key, lan_gateway_url
from bench.steady import SteadyClient
from bench.units import children_command, main_pid_command
from bench.variant import LAB_INVENTORY, changed_lab
from homelab.load import load_platform
from homelab.model import Backend, Platform
from homelab.services import mlx
from homelab.services.litellm import LiteLLM, gateway, gateway_host
from homelab.services.mlx import TEAM_PORTS


def deploy(inventory: Path = LAB_INVENTORY) -> converge.Run:
    argv = ("uv", "run", "pyinfra", str(inventory), "deploys/site.py", "-y")
    run = converge.timed(argv)
    if run.returncode != 0:
        raise SystemExit(f"deploy of {inventory} failed:\n{run.text[-3000:]}")
    return run


def main_pids(lab: Lab, platform: Platform) -> dict[str, str]:
    """Each enabled daemon's main PID, every host (one round trip a host)."""
    out: dict[str, str] = {}
    for host in platform.hosts:
        enabled = [d for d in platform.daemons(host) if d.enabled]
        if not enabled:
            continue
        pids = lab.sh(host, "; ".join(main_pid_command(d) for d in enabled)).split()
        out.update({f"{host}/{d.name}": pid for d, pid in zip(enabled, pids, strict=True)})
    return out


@dataclass(frozen=True)
class GatewayChange:
    failed: int
    requests: int
    p99_ms: float
    summary: str


def gateway_change(lab: Lab, platform: Platform) -> GatewayChange:
    url = lan_gateway_url(platform, "/v1/chat/completions")
    handle = next(h.handle for h in platform.handles() if h.backend is Backend.OV)
    retries = platform.gateway.router.num_retries + 1
    with tempfile.TemporaryDirectory() as folder:
        changed = changed_lab(
            Path(folder),
            f"lab.evolve(gateway=lab.gateway.evolve("
            f"router=lab.gateway.router.evolve(num_retries={retries})))",
        )
        deploy()  # from the lab's own state
        client = SteadyClient(url=url, key=gateway_key(lab, platform), handle=handle)
        with client:
            deploy(changed)
            deploy()
    ok = client.latencies()
    p99 = statistics.quantiles(ok, n=100, method="inclusive")[98] * 1000 if len(ok) > 1 else 0.0
    return GatewayChange(len(client.failed), len(client.outcomes), p99, client.summary())


@dataclass(frozen=True)
class GatewayRestart:
    #: Per backend the clients chatted with: (failed, sent, p99 ms).
    seen: dict[str, tuple[int, int, float]]

    @property
    def failed(self) -> int:
        return sum(failed for failed, _, _ in self.seen.values())

    @property
    def requests(self) -> int:
        return sum(sent for _, sent, _ in self.seen.values())

    @property
    def p99_ms(self) -> float:
        return max(p99 for _, _, p99 in self.seen.values())

    def summary(self) -> str:
        return "; ".join(
            f"{backend}: {failed} failed of {sent}, p99 {p99:.0f} ms"
            for backend, (failed, sent, p99) in self.seen.items()
        )


def gateway_restart(lab: Lab, platform: Platform) -> GatewayRestart:
    url = lan_gateway_url(platform, "/v1/chat/completions")
    home = gateway_host(platform)
    level = "ERROR" if gateway(platform).log_level != "ERROR" else "WARNING"
    on = f"lab.hosts[{home!r}]"
    litellm = f"{on}.services[{LiteLLM.key!r}]"
    key = gateway_key(lab, platform)
    clients = {
        backend.value: SteadyClient(
            url=url,
            key=key,
            handle=next(h.handle for h in platform.handles() if h.backend is backend),
        )
        for backend in (Backend.OV, Backend.MLX)
    }
    with tempfile.TemporaryDirectory() as folder:
        changed = changed_lab(
            Path(folder),
            f"lab.evolve(hosts={{**lab.hosts, {home!r}: "
            f"{on}.evolve({LiteLLM.key}={litellm}.evolve(log_level={level!r}))}})",
        )
        deploy()  # from the lab's own state
        with clients["ov"], clients["mlx"]:
            deploy(changed)
            deploy()
    seen = {}
    for backend, client in clients.items():
        p99 = client.window().p99()
        seen[backend] = (len(client.failed), len(client.outcomes), (p99 or 0.0) * 1000)
    return GatewayRestart(seen)


@dataclass(frozen=True)
class ModelAdded:
    seconds: float
    #: Daemons whose main process is new: started (the new server) or restarted.
    restarted: list[str]
    #: Daemons that kept their main process but changed their workers (a reload).
    reloaded: list[str]
    model: str
    #: Where the deploy's seconds went: its slowest operations, (name, seconds).
    slowest: list[tuple[str, float]]


def workers(lab: Lab, platform: Platform) -> dict[str, str]:
    """Each pre-forking daemon's worker PIDs (its main process's children), every host."""
    out: dict[str, str] = {}
    for host in platform.hosts:
        for d in platform.daemons(host):
            if d.enabled and d.reloadable:
                pid = f"$({main_pid_command(d)})"
                children = lab.sh(host, children_command(d, pid))
                out[f"{host}/{d.name}"] = " ".join(sorted(children.split()))
    return out


def model_added(lab: Lab, platform: Platform) -> ModelAdded:
    """One MLX model added on the first host serving MLX models, at its first free team port."""
    host, servers = next(mlx.SERVICE.placed(platform))
    taken = {m.port for m in servers.models if m.port is not None}
    port = next(p for p in TEAM_PORTS if p not in taken)
    model = f"mlx-tiny-llama-p{port}"
    key = mlx.SERVICE.key
    entry = (
        f"dict(model_id={model!r}, repo='lab/tiny-llama-p{port}', context_length=2048, "
        f"max_output_tokens=32, port={port})"
    )
    with tempfile.TemporaryDirectory() as folder:
        # As a user's data gives it: the model's folders are derived from its id and repo.
        changed = changed_lab(Path(folder), variant.model_added(host, key, entry))
        deploy()
        before, forked = main_pids(lab, platform), workers(lab, platform)
        run = deploy(changed)
        with_model = load_platform(changed)
        after, forked_after = main_pids(lab, with_model), workers(lab, with_model)
        deploy()  # and the lab as its data says again
    restarted = sorted(name for name, pid in after.items() if before.get(name) != pid)
    reloaded = sorted(
        name
        for name, children in forked_after.items()
        if name not in restarted and forked.get(name) != children
    )
    slowest = sorted(converge.operation_times(run.lines), key=lambda op: -op[1])[:6]
    return ModelAdded(run.wall, restarted, reloaded, model, slowest)
