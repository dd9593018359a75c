"""The failover story on the lab: one name, many machines, nothing dropped.

Two steady clients run through the whole story: one on a handle served on two hosts (as the
gateway's mode routes it), one on an alias over it (straight to the servers). Step by step: one
replica's host is cut off (its lab machine killed, not a clean stop), then comes back; then the
other replica's server hangs (SIGSTOP: it accepts and never answers), then answers again; then
every deployment of the alias is down and its fallback answers. LiteLLM's router does the work
(retries on another deployment, cooldowns, fallbacks). ``tests/lab/test_failover.py`` asserts
on what each step saw; ``bench/perf.py`` reports it.
"""

from __future__ import annotations

import os
import shlex
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass

from bench.lab import Lab, gateway_key, lab_command, lan_gateway_url
from bench.steady import SteadyClient, Window
from homelab.lab.config import load_config
from homelab.lab.lifecycle import host_processes
from homelab.model import Platform
from homelab.model.service import Daemon
from homelab.services.litellm import gateway_host


@dataclass(frozen=True)
class Cast:
    """Who plays which part, derived from the lab's data."""

    platform: Platform
    handle: str  # served on two hosts
    alias: str  # over that handle, straight to its servers
    fallback: str  # what the alias falls back to
    cut: str  # the replica host whose machine is killed
    hung: str  # the replica host whose server is stopped
    key: str

    @classmethod
    def of(cls, lab: Lab, platform: Platform) -> Cast:
        hosts: dict[str, list[str]] = {}
        for s in platform.served():
            if s.host not in platform.in_maintenance():
                hosts.setdefault(s.handle, []).append(s.host)
        handle = next((h for h, on in hosts.items() if len(on) == 2), None)
        alias = next(
            (a for a in platform.gateway.aliases if handle in a.handles and not a.through_optillm),
            None,
        )
        fallbacks = dict(platform.gateway.router.fallbacks).get(alias.name, ()) if alias else ()
        if handle is None or alias is None or not fallbacks:
            raise LookupError(
                "the failover story needs a handle served on two hosts, a direct alias over it "
                f"and a fallback for that alias (found {handle!r}, "
                f"{alias.name if alias else None!r}, {fallbacks!r})"
            )
        fallback = fallbacks[0]
        home = gateway_host(platform)
        cut = next(h for h in reversed(hosts[handle]) if h != home)
        hung = next(h for h in hosts[handle] if h != cut)
        return cls(platform, handle, alias.name, fallback, cut, hung, gateway_key(lab, platform))

    def server(self, host: str) -> Daemon:
        served = next(
            s for s in self.platform.served() if s.handle == self.handle and s.host == host
        )
        return self.platform.server_of(served)

    def base(self, host: str) -> str:
        """A replica's api_base, as the gateway names the deployment that answered."""
        return f"http://{self.platform.addresses[host]}:{self.server(host).listener.port}/v1"

    def fallback_bases(self) -> set[str]:
        """Where the fallback's deployments point."""
        return {r.api_base for r in self.platform.routes() if r.handle == self.fallback}

    def client(self, name: str) -> SteadyClient:
        url = lan_gateway_url(self.platform, "/v1/chat/completions")
        return SteadyClient(url=url, key=self.key, handle=name, timeout=90)

    def named(self, served: dict[str, int]) -> dict[str, int]:
        """Served counts by host name (the fallback's bases by its name)."""
        names = {self.base(h): h for h in (self.cut, self.hung)}
        names |= dict.fromkeys(self.fallback_bases(), self.fallback)
        return {names.get(b, b or "?"): n for b, n in sorted(served.items())}


@dataclass(frozen=True)
class Step:
    name: str
    #: Each client's requests sent during the step.
    windows: dict[str, Window]
    #: The alias's requests once the router had had time to act (its probes, its cooldown).
    settled: Window

    @property
    def served(self) -> dict[str, int]:
        """The settled requests by the deployment that answered."""
        return self.settled.served()

    def lines(self, cast: Cast) -> list[str]:
        out = []
        for who, w in self.windows.items():
            p99 = w.p99()
            out.append(
                f"{self.name:<22} {who:<28} {len(w.failed)}/{len(w.outcomes)} failed, "
                f"p99 {'-' if p99 is None else f'{p99 * 1000:.0f} ms'}, "
                f"served by {cast.named(w.served())}"
            )
        return out


def health_from_gateway(cast: Cast, host: str, ceiling: float = 180) -> None:
    """Wait until ``host``'s replica answers its health check from the gateway's host."""
    lab, home = Lab.load(), gateway_host(cast.platform)
    daemon = cast.server(host)
    url = f"http://{cast.platform.addresses[host]}:{daemon.listener.port}{daemon.health}"
    deadline = time.monotonic() + ceiling
    while time.monotonic() < deadline:
        try:
            lab.sh(home, f"curl -fsS -m 3 -o /dev/null {shlex.quote(url)}", timeout=10)
            return
        except RuntimeError:
            time.sleep(1)
    raise RuntimeError(f"{host}'s {daemon.name} did not answer {url} within {ceiling:.0f} s")


def kill_machine(name: str) -> None:
    """The host's lab machine killed outright, as it loses power: its nspawn and its init."""
    nspawn, init = host_processes(load_config(), name)
    if nspawn is None or init is None:
        raise RuntimeError(f"{name} is not running")
    for pid in (init, nspawn):
        os.kill(pid, signal.SIGKILL)


def main_pid(cast: Cast, host: str) -> int:
    unit = cast.server(host).unit
    out = Lab.load().sh(host, f"systemctl show -p MainPID --value {shlex.quote(unit)}")
    return int(out.strip())


def run(cast: Cast, seconds: float, say: Callable[[str], None] = print) -> list[Step]:
    """The story's steps, each ``seconds`` long once its fault is in place (and a cooldown
    longer where traffic must come back)."""
    router = cast.platform.gateway.router
    cooldown = router.cooldown_time
    # How long a fault takes to leave the rotation: a probe's interval and its time limit.
    noticed = (router.health_check_interval or 0) + (router.server_timeout or router.timeout)
    steps: list[Step] = []
    clients = {
        f"handle {cast.handle}": cast.client(cast.handle),
        f"alias {cast.alias}": cast.client(cast.alias),
    }
    alias = clients[f"alias {cast.alias}"]

    def step(name: str, start: float, settled_from: float) -> None:
        now = time.monotonic()
        windows = {who: c.window(start, now) for who, c in clients.items()}
        steps.append(Step(name, windows, alias.window(settled_from, now)))
        for line in steps[-1].lines(cast):
            say(line)

    with clients[f"handle {cast.handle}"], alias:
        start = time.monotonic()
        time.sleep(seconds)
        step("both up", start, start)

        start = time.monotonic()
        kill_machine(cast.cut)
        time.sleep(seconds)
        step(f"{cast.cut} killed", start, start + noticed)

        start = time.monotonic()
        lab_command("up")  # boots the hosts whose machines are gone, the others kept
        health_from_gateway(cast, cast.cut)
        back = time.monotonic()
        time.sleep(cooldown + seconds)
        step(f"{cast.cut} back", start, back + cooldown)

        pid = main_pid(cast, cast.hung)
        if pid <= 0:
            raise RuntimeError(f"{cast.server(cast.hung).unit} on {cast.hung} is not running")
        start = time.monotonic()
        Lab.load().sh(cast.hung, f"kill -STOP {pid}")
        try:
            time.sleep(seconds)
        finally:
            Lab.load().sh(cast.hung, f"kill -CONT {pid}")
        step(f"{cast.hung} hung", start, start + noticed)

        start = time.monotonic()
        time.sleep(cooldown + seconds)
        step(f"{cast.hung} answers", start, start + cooldown)

    lab = Lab.load()
    units = {host: cast.server(host).unit for host in (cast.cut, cast.hung)}
    try:
        for host, unit in units.items():
            lab.sh(host, f"systemctl stop {shlex.quote(unit)}")
        clients = {f"alias {cast.alias}": cast.client(cast.alias)}
        alias = clients[f"alias {cast.alias}"]
        with alias:
            start = time.monotonic()
            time.sleep(seconds)
        step("every replica down", start, start)
    finally:
        for host, unit in units.items():
            lab.sh(host, f"systemctl start {shlex.quote(unit)}")
        for host in units:
            health_from_gateway(cast, host)
    return steps
