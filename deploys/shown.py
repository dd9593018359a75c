"""An operation whose command's output is shown as it comes, whatever the deploy's verbosity:
a long fetch's progress lines (bytes, rate, time left). pyinfra shows a command's output only
at ``-vvv``; this runs the command from a ``python.call`` with the host's own connection
arguments (its ``_sudo`` and the rest, as every operation takes them), output printed."""

from __future__ import annotations

from pyinfra.api.arguments import CONNECTOR_ARGUMENT_KEYS, pop_global_arguments
from pyinfra.api.command import StringCommand
from pyinfra.api.exceptions import OperationError
from pyinfra.api.host import Host
from pyinfra.api.operation import OperationMeta
from pyinfra.api.state import State
from pyinfra.operations import python


def _run_shown(state: State, host: Host, command: str) -> None:
    arguments, _ = pop_global_arguments(state, host, {})
    connect = {k: v for k, v in arguments.items() if k in CONNECTOR_ARGUMENT_KEYS}
    ok, output = host.run_shell_command(StringCommand(command), print_output=True, **connect)
    if not ok:
        last = "; ".join(output.stderr_lines[-3:] or output.stdout_lines[-3:])
        raise OperationError(f"failed: {last}")


def shown_shell(name: str, command: str) -> OperationMeta:
    """``command`` on the host, its output shown line by line as the host prints it."""
    return python.call(name=name, function=_run_shown, command=command)
