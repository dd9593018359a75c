"""The whole platform, assembled from the hosts' pieces and validated before any connection.

Every host the inventory names has its data file, ``hosts/<name>.py``, which says what the host
is and which services run on it; a host joins the platform by an inventory entry and that
file. Every host reads ``host.data.platform``. Addresses come from the inventory being loaded,
so the same data serves the real homelab and the lab.
"""

from homelab.groupdata import assemble

__all__ = ["platform"]

platform = assemble(
    __file__,
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
)
