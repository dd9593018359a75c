"""The day-two story on the lab, in one sequence, with steady clients on the gateway throughout.

The operator's week, each step a change to the data (cumulative: the story's data after a step
is the data before it, changed) deployed as a user deploys it:

1. add a model (on the first host serving MLX models); 2. move it to another port; 3. drop one
of the lab's own models there; 4. turn the OptiLLM mode off, 5. and on again; 6. change the
gateway's retries; 7. rotate the gateway key; 8. destroy the gateway's host (Open WebUI's too),
rebuild it and restore its copy; 9. go back to the lab's own data.

Two clients send chat requests through the gateway from start to end: one to an ``ov-*`` handle
(the gateway host's own path), one to an MLX handle no step touches (the MLX hosts' path,
through OptiLLM when its mode is on). Both read the key again when the gateway refuses theirs,
as a LAN client of a rotated gateway does. After each step: the verify suite (leftovers
included) is green, and the MLX servers the step does not touch, every host's, kept their main
PIDs (the lab deletes a host's file system with the whole lab down, so every other host boots
again at step 8; their servers are counted anew from there). Each step prints its deploy time,
the daemons it restarted, and each client's requests, failures and p99 latency in its window;
the story ends with a table of them. The session holds the lab lock (``conftest.lab_lock``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bench.lab import lan_gateway_url
from bench.steady import REFUSED, SteadyClient, Window
from bench.variant import changed_lab
from homelab.backup import webui_host
from homelab.load import load_platform
from homelab.model import Backend
from homelab.secrets import STORE_SUFFIX
from homelab.services import daemon_named, mlx
from homelab.services.litellm import gateway_host
from homelab.services.mlx import TEAM_PORTS, MlxServers, server_name
from tests.lab.conftest import LAB_INVENTORY, changed, deploy, homelab, run_lab, ssh
from tests.lab.test_day_two import answers, gone, green, main_pids, mlx_host, restarted

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root"),
]

LAB = load_platform(LAB_INVENTORY)
#: The gateway's host: its store holds the key; step 8 rebuilds it.
HOME = gateway_host(LAB)
KEY_FILE = LAB.host(HOME).layout.secret_file(LAB.gateway.proxy_key.env)
#: The host whose MLX models the story adds, moves and drops, and its MLX data.
HOST, SERVERS = mlx_host(LAB)
#: The MLX model both clients' path keeps: no step adds, moves or drops it.
KEPT = SERVERS.served[0].model_id
#: The team ports the added model takes on HOST, then moves to: the first two free there.
ADDED, MOVED = [p for p in TEAM_PORTS if p not in {m.port for m in SERVERS.models}][:2]


def store_key() -> str:
    """The gateway key as its host's store holds it (a process of its own: called from
    threads)."""
    result = ssh(HOME, f"cat {KEY_FILE}", timeout=30)
    if result.returncode != 0 or not result.stdout.strip():
        raise RuntimeError(f"{HOME}'s store could not be read: {result.stderr.strip()[:120]}")
    return result.stdout.strip()


@dataclass
class Data:
    """The story's data: the lab's, with its MLX models, OptiLLM mode and retries changed."""

    models: list[dict[str, Any]]
    via_optillm: bool = LAB.gateway.route_via_optillm
    retries: int = LAB.gateway.router.num_retries

    def body(self) -> str:
        on = f"lab.hosts[{HOST!r}]"
        key = MlxServers.key
        servers = f'{{**{on}.services[{key!r}].model_dump(), "models": {self.models!r}}}'
        return f"""lab.evolve(
            hosts={{**lab.hosts, {HOST!r}: {on}.evolve({key}={servers})}},
            gateway=lab.gateway.evolve(
                route_via_optillm={self.via_optillm!r},
                router=lab.gateway.router.evolve(num_retries={self.retries!r}),
            ),
        )"""


@dataclass
class Step:
    name: str
    seconds: float
    restarted: list[str]
    windows: dict[str, Window]


@dataclass
class Story:
    folder: Path
    clients: dict[str, SteadyClient]
    steps: list[Step] = field(default_factory=list)
    inventory: Path = LAB_INVENTORY

    def data(self, data: Data) -> Path:
        """An inventory of the lab with ``data``: the one the next steps deploy."""
        self.inventory = changed_lab(self.folder / f"step-{len(self.steps) + 1}", data.body())
        return self.inventory

    def step(self, name: str, action: Callable[[], None]) -> Step:
        """Run ``action`` (a deploy, a rotation, a rebuild); record and print what it cost."""
        platform = load_platform(self.inventory)
        before = main_pids(platform)
        began = time.monotonic()
        action()
        seconds = time.monotonic() - began
        step = Step(
            name,
            seconds,
            restarted(before, main_pids(platform)),
            {label: c.window(began, time.monotonic()) for label, c in self.clients.items()},
        )
        self.steps.append(step)
        clients = "; ".join(f"{label}: {w.summary()}" for label, w in step.windows.items())
        print(
            f"\n{time.strftime('%H:%M:%S')} {name}: {seconds:.1f} s; "
            f"restarted {', '.join(step.restarted) or 'nothing'}\n  {clients}",
            flush=True,
        )
        return step

    def deploy(self, name: str) -> Step:
        return self.step(name, lambda: self._deployed(name))

    def _deployed(self, name: str) -> None:
        ops = changed(deploy(self.inventory))
        print(f"\n{name}: {len(ops)} operations changed something", flush=True)

    def table(self) -> str:
        labels = list(self.clients)
        head = "| step | time | restarted | " + " | ".join(
            f"{label}: failed / sent | {label}: p99" for label in labels
        )
        rows = [head + " |", "|" + "---|" * (3 + 2 * len(labels))]
        for s in self.steps:
            cells = [s.name, f"{s.seconds:.1f} s", ", ".join(s.restarted) or "nothing"]
            for label in labels:
                w = s.windows[label]
                p99 = w.p99()
                cells += [
                    f"{len(w.failed)} / {len(w.outcomes)}",
                    f"{p99 * 1000:.0f} ms" if p99 is not None else "-",
                ]
            rows.append("| " + " | ".join(cells) + " |")
        return "\n".join(rows)


def mlx_pids(pids: dict[str, str]) -> dict[str, str]:
    """The MLX servers' of ``pids``, every host's."""
    prefix = f"{mlx.SERVICE_NAME}-"
    return {unit: pid for unit, pid in pids.items() if unit.split("/", 1)[1].startswith(prefix)}


def unit_of(model: dict[str, Any]) -> str:
    """``host/unit`` of a model's server on HOST, as :func:`main_pids` names it."""
    return f"{HOST}/{server_name(model['port'])}.service"


@pytest.fixture
def clients(lab: dict[str, Any]) -> Iterator[dict[str, SteadyClient]]:
    deploy()  # the lab as its data says, whatever state it was in
    url = lan_gateway_url(LAB, "/v1/chat/completions")
    key = store_key()
    ov = next(h.handle for h in LAB.handles() if h.backend is Backend.OV)
    made = {
        "ov": SteadyClient(url, key, ov, rekey=store_key),
        "mlx": SteadyClient(url, key, KEPT, rekey=store_key),
    }
    for client in made.values():
        client.__enter__()
    yield made
    for client in made.values():
        client.__exit__()


def no_failure(step: Step) -> None:
    for label, window in step.windows.items():
        assert len(window.outcomes) > 5, f"{step.name}: {label} sent too little: {window.summary()}"
        assert window.failed == [], f"{step.name}: {label} saw failures: {window.summary()}"


GATEWAY = f"{HOME}/{daemon_named(LAB, HOME, 'litellm').unit}"


def reloaded_not_restarted(step: Step) -> None:
    """The gateway took the change in by a reload: its main process is the one it had."""
    assert GATEWAY not in step.restarted, f"{step.name}: the gateway restarted: {step.restarted}"


def test_the_operators_week(clients: dict[str, SteadyClient], tmp_path: Path) -> None:
    # Step 8 brings the rotated gateway key back with Open WebUI's copy of its host's store.
    assert webui_host(LAB) == HOME, f"the gateway runs on {HOME}, Open WebUI on {webui_host(LAB)}"
    story = Story(tmp_path, clients)
    models = [m.model_dump() for m in SERVERS.models]
    by_id = {m["model_id"]: m for m in models}
    new = dict(by_id[KEPT], model_id="mlx-tiny-llama-c", repo="lab/tiny-llama-c", port=ADDED)
    for path in ("source_path", "cache_path"):
        del new[path]  # derived from the id and the repo, as a user's data leaves them
    # One of the host's own served models, not the kept one: the one step 3 drops.
    dropped = next(m.model_id for m in SERVERS.served if m.model_id != KEPT)
    start = mlx_pids(main_pids(LAB))

    def kept_pids(*touched: str) -> None:
        """The MLX servers no step so far touched still run the process they started with."""
        now = mlx_pids(main_pids(load_platform(story.inventory)))
        for unit, pid in start.items():
            if unit not in touched:
                assert now.get(unit) == pid, f"{unit}: main PID {pid} before, {now.get(unit)} now"

    def checked(*touched: str) -> None:
        green(story.inventory, tmp_path)
        kept_pids(*touched)

    try:
        # 1. Add a model: its server starts, no other MLX server restarts.
        data = Data(models=[*models, new])
        story.data(data)
        step = story.deploy(f"add mlx-tiny-llama-c on {HOST}:{ADDED}")
        assert unit_of(new) in step.restarted
        reloaded_not_restarted(step)
        no_failure(step)
        checked()
        answers(load_platform(story.inventory), new["model_id"])

        # 2. Move it to another port: the new server answers, the old one is gone.
        moved = dict(new, port=MOVED)
        data.models = [*models, moved]
        story.data(data)
        step = story.deploy(f"move mlx-tiny-llama-c to {HOST}:{MOVED}")
        assert unit_of(moved) in step.restarted
        reloaded_not_restarted(step)
        no_failure(step)
        gone(HOST, ADDED, f"{server_name(ADDED)}.service")
        checked()
        answers(load_platform(story.inventory), new["model_id"])

        # 3. Drop one of the lab's own models: its server and its port go.
        data.models = [m for m in data.models if m["model_id"] != dropped]
        story.data(data)
        step = story.deploy(f"drop {dropped} ({by_id[dropped]['port']})")
        reloaded_not_restarted(step)
        no_failure(step)
        gone(HOST, by_id[dropped]["port"], f"{server_name(by_id[dropped]['port'])}.service")
        touched = unit_of(by_id[dropped])
        checked(touched)

        # 4-5. The OptiLLM mode off and on again: the MLX handle answers throughout.
        for via_optillm in (not LAB.gateway.route_via_optillm, LAB.gateway.route_via_optillm):
            data.via_optillm = via_optillm
            story.data(data)
            step = story.deploy(f"OptiLLM mode {'on' if via_optillm else 'off'}")
            reloaded_not_restarted(step)
            no_failure(step)
            checked(touched)

        # 6. The gateway's retries: a reload, nothing drops.
        data.retries += 1
        story.data(data)
        step = story.deploy(f"num_retries {data.retries - 1} -> {data.retries}")
        reloaded_not_restarted(step)
        no_failure(step)
        checked(touched)

        # 7. Rotate the gateway key: the clients' old key is refused, nothing else fails.
        old = store_key()

        def rotate() -> None:
            key_name = LAB.gateway.proxy_key.env
            rotated = homelab("rotate", HOME, key_name, inventory=story.inventory)
            assert rotated.returncode == 0, rotated.stderr
            print(rotated.stdout)

        step = story.step("rotate the gateway key", rotate)
        key = store_key()
        assert key != old
        for label, window in step.windows.items():
            other = {k for k in window.kinds() if k not in {str(c) for c in REFUSED}}
            assert not other, f"rotation: {label} failed otherwise than refused: {window.summary()}"
        time.sleep(3)  # the clients read the key again and go on
        for label, client in clients.items():
            assert client.key == key, f"{label} never got the rotated key"
        checked(touched)

        # 8. Destroy the gateway's host, rebuild it, restore its copy: the rotated key answers
        # again.
        local = tmp_path / "copies"

        def rebuild() -> None:
            began = time.monotonic()

            def took(what: str) -> None:
                print(f"  {what}: {time.monotonic() - began:.1f} s", flush=True)

            fetched = homelab("backup", HOME, "--local", str(local), inventory=story.inventory)
            assert fetched.returncode == 0, fetched.stderr
            assert any(p.name.endswith(STORE_SUFFIX) for p in (local / HOME).iterdir())
            took("backup fetched")
            destroyed = run_lab("destroy", HOME)
            assert destroyed.returncode == 0, destroyed.stderr
            took("destroyed")
            up = run_lab("up")
            assert up.returncode == 0, up.stderr
            took("lab up")
            deploy(story.inventory)
            took("deployed")
            restored = homelab("restore", HOME, "--local", str(local), inventory=story.inventory)
            assert restored.returncode == 0, restored.stderr
            took("restored")
            print(restored.stdout)

        step = story.step(f"destroy, rebuild and restore {HOME}", rebuild)
        assert store_key() == key, "the restore did not bring the rotated key back"
        assert changed(deploy(story.inventory)) == [], "the restore left something to change"
        # The lab deletes a host's file system with the whole lab down, so every other host
        # booted again too (a real one runs on): their servers are counted from here.
        booted = mlx_pids(main_pids(load_platform(story.inventory)))
        start.update({unit: pid for unit, pid in booted.items() if unit in start})
        checked(touched)

        # 9. Back to the lab's own data: the dropped model's server again, the added one gone.
        story.inventory = LAB_INVENTORY
        step = story.deploy("back to the lab's data")
        assert unit_of(by_id[dropped]) in step.restarted
        no_failure(step)
        gone(HOST, MOVED, f"{server_name(MOVED)}.service")
        checked(touched)
        step = story.deploy("second run")
        assert step.restarted == []
    finally:
        print("\n" + story.table(), flush=True)
        if story.inventory != LAB_INVENTORY:  # a step failed: the lab goes back to its data
            run_lab("up")
            deploy()
