"""Service accounts: a system user and group of its own for each service, on Linux hosts."""

from __future__ import annotations

from pyinfra.api.operation import OperationMeta
from pyinfra.operations import server

from deploys.state import current, directory, running
from homelab.model import Daemon


def service_account(daemon: Daemon, home: str | None = None) -> list[OperationMeta]:
    """A system user and group of its own, its home the service's state directory."""
    if not daemon.system.service_accounts:
        return []  # its daemons run as the account the data names (run_as); it exists
    home = home or daemon.state_dir
    ops = system_user(daemon.user, home, daemon.supplementary_groups)
    return running([*ops, directory(daemon.state_dir, daemon.user, daemon.user, "0750")])


#: The shell of every service account: none to log in with.
NOLOGIN = "/usr/sbin/nologin"


def system_user(user: str, home: str, groups: tuple[str, ...] = ()) -> list[OperationMeta]:
    """A Linux system user with a group of its own and no login shell (none planned when the
    host's snapshot shows it so)."""
    state = current()
    ops: list[OperationMeta] = []
    if user not in state.groups:
        ops.append(server.group(name=f"Group {user}", group=user, system=True))
    account = state.accounts.get(user)
    if not (
        account is not None
        and account.group == user
        and set(groups) <= account.groups
        and account.home == home
        and account.shell == NOLOGIN
    ):
        ops.append(
            server.user(
                name=f"User {user}",
                user=user,
                group=user,
                groups=list(groups) or None,
                home=home,
                shell=NOLOGIN,
                system=True,
                ensure_home=False,
            )
        )
    return ops
