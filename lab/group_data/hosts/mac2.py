"""A second Mac (Linux in the lab, as the Studio is): one tiny MLX model, the one the Studio
serves on 8100, so the gateway has a replica of it on another host; and the lab's hub mirror."""

from homelab.groupdata import validating
from homelab.lab.data import mac_stand_in, tiny
from homelab.model import Host

with validating("mac2", top="Host"):
    host = Host(
        **mac_stand_in({"node_exporter": {}}, [tiny("tiny-llama-a", 8100)]),
        # The lab's hub: olah, offline, serving tiny models made here (no hub is reachable).
        hub_mirror=dict(mirrors_dir="/var/lib/homelab-llm/hub-mirrors"),
    )
