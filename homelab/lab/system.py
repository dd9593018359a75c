"""The machine under the lab: running commands, and the checks made before anything is made."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from homelab.lab.errors import LabError

#: Tools in /usr/sbin are looked for even when the caller's PATH lacks it (sudo, CI shells).
SEARCH_PATH = os.pathsep.join(
    [os.environ.get("PATH", ""), "/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/bin", "/bin"]
)
APT_ENV = {"DEBIAN_FRONTEND": "noninteractive"}


class CommandFailed(Exception):
    """A command that exited non-zero (or could not start)."""

    def __init__(self, argv: Sequence[str], returncode: int, output: str) -> None:
        super().__init__(f"{' '.join(argv)} exited {returncode}: {last_line(output)}")
        self.argv = list(argv)
        self.returncode = returncode
        self.output = output

    @property
    def reason(self) -> str:
        return last_line(self.output) or f"exit code {self.returncode}"


def last_line(text: str) -> str:
    """The last non-empty line of ``text``: usually the one that says why a command failed."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def run(
    argv: Sequence[str],
    *,
    check: bool = True,
    timeout: float | None = None,
    env: Mapping[str, str] | None = None,
    input_text: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` with output captured; raise :class:`CommandFailed` on a non-zero exit."""
    full_env = {**os.environ, "PATH": SEARCH_PATH, **(env or {})}
    try:
        proc = subprocess.run(
            list(argv),
            input=input_text,
            stdin=None if input_text is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=full_env,
            check=False,
        )
    except FileNotFoundError as exc:
        raise CommandFailed(argv, 127, str(exc)) from exc
    except subprocess.TimeoutExpired as exc:
        raise CommandFailed(argv, 124, f"timed out after {timeout} s") from exc
    if check and proc.returncode != 0:
        raise CommandFailed(argv, proc.returncode, proc.stderr + proc.stdout)
    return proc


def which(command: str) -> str | None:
    return shutil.which(command, path=SEARCH_PATH)


def require_root(action: str) -> None:
    if os.geteuid() != 0:
        raise LabError(
            f"homelab lab {action} needs root (it makes a bridge, NAT rules and containers)",
            f"run it as root, e.g. sudo homelab lab {action}",
        )


def check_namespaces() -> None:
    """Refuse early on a kernel (or a sandbox) that will not give nspawn its namespaces."""
    argv = ["unshare", "--net", "--pid", "--mount", "--uts", "--ipc", "--fork", "true"]
    try:
        run(argv, timeout=20)
    except CommandFailed as exc:
        raise LabError(
            f"this kernel does not let the lab make namespaces ({exc.reason})",
            "run the lab on a Linux machine or VM that allows network, PID and mount "
            "namespaces (not inside an unprivileged container)",
        ) from exc


def missing_packages(commands: Mapping[str, str], files: Mapping[str, str]) -> list[str]:
    """The Debian packages whose command or file is not on this machine, sorted, no repeats."""
    missing = {pkg for cmd, pkg in commands.items() if which(cmd) is None}
    missing |= {pkg for path, pkg in files.items() if not Path(path).exists()}
    return sorted(missing)


def apt_install(packages: Sequence[str]) -> None:
    """``apt-get install`` the packages; refresh the package lists once if the first try fails."""
    if which("apt-get") is None:
        raise CommandFailed(["apt-get"], 127, "apt-get not found: this is not a Debian machine")
    install = ["apt-get", "install", "-y", "-q", *packages]
    try:
        run(install, env=APT_ENV, timeout=900)
    except CommandFailed:
        run(["apt-get", "update", "-q"], env=APT_ENV, timeout=600)
        run(install, env=APT_ENV, timeout=900)


def ensure_packages(
    commands: Mapping[str, str],
    files: Mapping[str, str],
    installer: Callable[[Sequence[str]], None] = apt_install,
    say: Callable[[str], None] = lambda _msg: None,
) -> list[str]:
    """Install the Debian packages the lab needs and the machine lacks; return those installed."""
    missing = missing_packages(commands, files)
    if not missing:
        return []
    names = " ".join(missing)
    say(f"installing Debian packages the lab needs: {names}")
    try:
        installer(missing)
    except CommandFailed as exc:
        raise LabError(
            f"the Debian package(s) {names} the lab needs are missing and could not be "
            f"installed ({exc.reason})",
            f"install them by hand (apt-get install {names}) or fix the machine's apt sources, "
            "then retry",
        ) from exc
    still = missing_packages(commands, files)
    if still:
        raise LabError(
            f"the Debian package(s) {' '.join(still)} were installed but what the lab needs "
            "from them is still missing",
            "check the machine's PATH and dpkg state (dpkg -L PACKAGE), then retry",
        )
    return missing
