"""Entry point: ``pyinfra INVENTORY deploys/site.py`` converges every host of the inventory.

Each host takes the platform from its group data (validated before any host was contacted)
and its own part of it by its inventory name: the services its data places, in the registry's
order, each through its deployer. It first refuses what it cannot hold (before anything
changes), prepares its base, starts the slow checks of files it will replace (in the
background: the gateway's config), deploys its services (starting what changed without waiting),
waits for what it started to answer, with the new daemons up removes what the data no longer
names, and last asks the warm models of each server that started (or whose profile changed)
one short request.
"""

from collections.abc import Callable
from functools import partial

from pyinfra.api.deploy import deploy
from pyinfra.api.exceptions import PyinfraError
from pyinfra.context import host

from deploys.host import prepare
from deploys.prune import prune
from deploys.registry import deployers
from deploys.toolchain import Tools
from deploys.waits import wait_started
from deploys.warmups import script_path, warm_up
from homelab.model import Platform

platform = host.data.get("platform")
if not isinstance(platform, Platform):
    raise PyinfraError("group data defines no platform: run from a checkout with group_data/")
if host.name not in platform.hosts:
    raise PyinfraError(f"{host.name}: the platform has no data for it (group_data/hosts/)")
name = host.name

placed, absent = deployers(platform, name)
for deployer in placed:
    deployer.refuse(platform, name)
tools = prepare(
    platform=platform,
    role=name,
    more_paths=(
        *(p for d in placed for p in d.snapshot_paths(platform, name)),
        *((script_path(platform, name),) if platform.warmups(name) else ()),
    ),
    more_users=tuple(u for d in placed for u in d.snapshot_users(platform, name)),
)
for deployer in placed:
    deployer.start_checks(platform, name, tools)
for deployer in placed:
    # pyinfra's @deploy groups a function's operations under a name in its output (it marks
    # the function it wraps, which a bound method does not take: a partial does).
    run: Callable[[Platform, str, Tools], None] = deploy(deployer.title)(partial(deployer.run))  # type: ignore[assignment]
    run(platform, name, tools)
for deployer in absent:
    deployer.absent(platform, name)
started = wait_started(tuple(d for d in platform.daemons(name) if d.enabled))
prune(platform=platform, role=name)
warm_up(platform, name, started)
