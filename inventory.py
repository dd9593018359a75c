"""The real homelab: hosts and connection data only.

Never a target from this machine's tests, lab or benchmarks: they use
``lab/inventory.py``. Everything else about the hosts lives in ``group_data/``.
"""

mini = [("mini", {"ssh_hostname": "192.168.1.71", "ssh_user": "christopherbailey"})]
studio = [("studio", {"ssh_hostname": "192.168.1.72", "ssh_user": "thestudio"})]
