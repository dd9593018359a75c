"""Entry point: ``pyinfra INVENTORY deploys/site.py`` converges every host of the inventory.

Each host takes the platform from its group data (validated before any host was contacted),
prepares its base, then deploys its services in the registry's order, each through the deploy
its service module names.
"""

from importlib import import_module

from pyinfra.api.exceptions import PyinfraError
from pyinfra.context import host

from deploys.host import prepare
from homelab.model import ROLES, Platform
from homelab.services import services

platform = host.data.get("platform")
if not isinstance(platform, Platform):
    raise PyinfraError("group data defines no platform: run from a checkout with group_data/")

roles = [role for role in ROLES if role in host.groups]
if len(roles) != 1:
    raise PyinfraError(f"{host.name} must be in exactly one of the groups {', '.join(ROLES)}")
role = roles[0]

tools = prepare(platform=platform, role=role)
for service in services(platform, role):
    if service.deploy is not None:
        module, function = service.deploy.split(":")
        run = getattr(import_module(module), function)
        run(platform=platform, tools=tools, service=service)
