"""The real homelab: hosts and connection data only.

Never a target from this machine's tests, lab or benchmarks: they use
``lab/inventory.py``. Each host named here has its data file, ``group_data/hosts/<name>.py``.
"""

homelab = [
    ("mini", {"ssh_hostname": "192.168.1.71", "ssh_user": "christopherbailey"}),
    ("studio", {"ssh_hostname": "192.168.1.72", "ssh_user": "thestudio"}),
]
