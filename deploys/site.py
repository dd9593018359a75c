"""Entry point: ``pyinfra INVENTORY deploys/site.py`` converges every host of the inventory.

Each host takes the platform from its group data (validated before any host was contacted)
and runs the deploy of its group.
"""

from pyinfra.api.exceptions import PyinfraError
from pyinfra.context import host

from deploys.mini import deploy_mini
from deploys.studio import deploy_studio
from homelab.model import Platform

platform = host.data.get("platform")
if not isinstance(platform, Platform):
    raise PyinfraError("group data defines no platform: run from a checkout with group_data/")

if "mini" in host.groups:
    deploy_mini(platform=platform)
elif "studio" in host.groups:
    deploy_studio(platform=platform)
else:
    raise PyinfraError(f"{host.name} is in neither group 'mini' nor 'studio'")
