"""Entry point: ``pyinfra INVENTORY deploys/site.py`` converges every host of the inventory.

Each host takes the platform from its group data (validated before any host was contacted),
refuses a set of models its memory cannot hold (before anything changes), prepares its base,
deploys its services in the registry's order, each through the deploy its service module
names (starting what changed without waiting), waits for what it started to answer, and last,
with the new daemons up, removes what the data no longer names.
"""

from importlib import import_module

from pyinfra.api.exceptions import PyinfraError
from pyinfra.context import host

from deploys.budget import refuse_what_cannot_fit
from deploys.host import prepare
from deploys.prune import prune
from deploys.steps import wait_started
from homelab.model import ROLES, Platform
from homelab.services import services

platform = host.data.get("platform")
if not isinstance(platform, Platform):
    raise PyinfraError("group data defines no platform: run from a checkout with group_data/")

roles = [role for role in ROLES if role in host.groups]
if len(roles) != 1:
    raise PyinfraError(f"{host.name} must be in exactly one of the groups {', '.join(ROLES)}")
role = roles[0]

refuse_what_cannot_fit(platform, role)
tools = prepare(platform=platform, role=role)
for service in services(platform, role):
    if service.deploy is not None:
        module, function = service.deploy.split(":")
        run = getattr(import_module(module), function)
        run(platform=platform, tools=tools, service=service)
wait_started()
prune(platform=platform, role=role)
