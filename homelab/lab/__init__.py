"""The local lab: the Mini and the Studio as two systemd hosts on one machine."""
