"""The real homelab: hosts and connection data only.

Never a target from this machine's tests, lab or benchmarks: they use
``lab/inventory.py``. Each host named here has its data file, ``group_data/hosts/<name>.py``.
"""

# The deploy installs units, packages and secrets: as the operator's accounts, through sudo.
homelab = [
    ("mini", {"ssh_hostname": "192.168.1.71", "ssh_user": "christopherbailey", "_sudo": True}),
    ("studio", {"ssh_hostname": "192.168.1.72", "ssh_user": "thestudio", "_sudo": True}),
]
