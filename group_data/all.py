"""The whole platform, assembled from the hosts' pieces and validated before any connection.

Every host reads ``host.data.platform``. Addresses come from the inventory being loaded, so the
same data serves the real homelab and the lab.
"""

from homelab.groupdata import inventory_addresses, siblings, validating
from homelab.model import Platform

__all__ = ["platform"]

_pieces = siblings(__file__, "hosts/mini", "hosts/studio")

with validating(top="Platform"):
    platform = Platform(
        addresses=inventory_addresses(),
        storage=(
            dict(name="studio", path="/Users/thestudio/models", showroom=True),
            dict(name="seagate", path="/Volumes/Seagate/models", showroom=False),
        ),
        gateway=dict(
            router=dict(num_retries=2, allowed_fails=3, cooldown_time=30),
            json_logs=True,
            route_via_optillm=True,  # MLX_ROUTE_VIA_OPTILLM=1 in the seed
            opt_handles=(),  # current OptiLLM handles: none (seed)
        ),
        mini=_pieces["mini"]["mini"],
        studio=_pieces["studio"]["studio"],
    )
