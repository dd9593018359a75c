"""The host's tools for building virtualenvs: uv at its pinned version, the host's Python."""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pyinfra.api.deploy import deploy
from pyinfra.api.operation import OperationMeta
from pyinfra.context import host
from pyinfra.facts.files import File
from pyinfra.operations import apt, brew, server, systemd

from deploys.state import current
from homelab.model.common import Layout, Toolchain
from homelab.model.service import Daemon


@dataclass(frozen=True)
class Tools:
    """Paths and environment every ``uv`` command on the host runs with."""

    uv: str
    python: str
    env: dict[str, str]
    find_links: tuple[str, ...]
    #: Where wheels built on the host from source are kept, by their inputs' key.
    wheels: str

    @property
    def uv_env(self) -> str:
        return " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(self.env.items()))

    @property
    def find_links_args(self) -> str:
        return " ".join(f"--find-links {shlex.quote(link)}" for link in self.find_links)


def tools_for(
    layout: Layout, toolchain: Toolchain, system: str, data: Mapping[str, Any] | None = None
) -> Tools:
    """The host's tools; ``data``, its pyinfra host data (the current host's by default)."""

    def found(key: str) -> Any:
        return host.data.get(key) if data is None else data.get(key)

    env = {
        # The host's Python and CA store: no interpreter downloads, and TLS that trusts what
        # the host trusts (a proxy's CA included).
        "UV_PYTHON_DOWNLOADS": "never",
        "UV_NATIVE_TLS": "true",
    }
    cache = found("uv_cache_dir")
    if cache:
        env["UV_CACHE_DIR"] = str(cache)
        # A cache mounted from elsewhere (the lab's, shared by its hosts) cannot be hard-linked
        # from; a host's own cache can, uv's default, so its venvs are not copies.
        env["UV_LINK_MODE"] = "copy"
    # On macOS, Homebrew's uv (Apple silicon); elsewhere the platform's own install.
    uv = "/opt/homebrew/bin/uv" if system == "macos" else f"{layout.opt}/uv/bin/uv"
    # The lab shares one wheel cache among its hosts, as it shares uv's.
    wheels = str(found("wheel_cache_dir") or f"{layout.state}/wheels")
    return Tools(
        uv=uv, python=toolchain.python, env=env, find_links=toolchain.find_links, wheels=wheels
    )


#: What every venv needs from Debian: venv itself, the CA store, git for pinned sources.
DEBIAN_PACKAGES = ("python3-venv", "ca-certificates", "git")


#: What a build from C/C++ source needs from Debian (CMake itself comes from PyPI, as the
#: package's build requirement).
DEBIAN_BUILD_PACKAGES = ("g++", "make")


def debian_packages(
    name: str, packages: tuple[str, ...], system: str, no_recommends: bool = False
) -> list[OperationMeta]:
    """Debian's ``packages`` on a Linux host that lacks one of them (the snapshot says which it
    has); nothing on macOS."""
    if system == "macos" or set(packages) <= current().packages:
        return []
    return [
        apt.packages(
            name=name,
            packages=list(packages),
            update=True,
            cache_time=24 * 3600,
            no_recommends=no_recommends,
        )
    ]


def system_package(daemon: Daemon) -> list[OperationMeta]:
    """A daemon's program from the host's package manager (Debian's, Homebrew's); Debian's own
    unit for it stopped and disabled: the platform's unit runs the program."""
    pkg = daemon.package
    if pkg is None:
        return []
    name = daemon.system.package(pkg)
    if name is None:
        return []
    if daemon.system.packages == "homebrew":
        return [brew.packages(name=f"Homebrew's {name}", packages=[name], _sudo=False)]
    # Without what it recommends (Prometheus recommends Debian's node exporter, started as
    # Debian's unit on the port the platform's own one takes).
    ops = debian_packages(f"Debian's {name}", (name,), daemon.system.name, no_recommends=True)
    if pkg.debian_unit is not None:
        # The package starts its unit at install; a stopped, disabled unit stays so on upgrades.
        ops.append(
            systemd.service(
                name=f"Debian's {pkg.debian_unit} stopped and disabled",
                service=pkg.debian_unit,
                running=False,
                enabled=False,
            )
        )
    return ops


def firewall_package(daemon: Daemon) -> list[OperationMeta]:
    """The packet filter that fences a daemon's port (Debian's nftables), where it is fenced."""
    firewall = daemon.system.firewall
    if daemon.fence_path is None or firewall is None:
        return []
    return debian_packages(f"Debian's {firewall.debian}", (firewall.debian,), daemon.system.name)


def build_tools(system: str) -> list[OperationMeta]:
    """A compiler and make, for a package built on the host. macOS: Apple's command line tools,
    which Homebrew itself needs, so already there."""
    return debian_packages("Debian build tools", DEBIAN_BUILD_PACKAGES, system)


@deploy("Toolchain: uv and Python")
def install_toolchain(layout: Layout, toolchain: Toolchain, system: str) -> None:
    if system == "macos":
        # Homebrew refuses to run as root: as the SSH account (the host's operator), not sudo.
        brew.packages(
            name="Homebrew packages",
            packages=["uv", f"python@{toolchain.python_version}", "git"],
            _sudo=False,
        )
        return
    state = current()
    if not set(DEBIAN_PACKAGES) <= state.packages:
        apt.packages(
            name="Debian packages",
            packages=list(DEBIAN_PACKAGES),
            update=True,
            cache_time=24 * 3600,
        )
    marker = f"{layout.opt}/uv/.installed-{toolchain.uv.version}"
    known = state.knows(marker)
    if (known and state.entry(marker) is None) or (
        not known and not host.get_fact(File, path=marker)
    ):
        venv = f"{layout.opt}/uv"
        server.shell(
            name=f"Install {toolchain.uv.pin}",
            commands=[
                f"rm -rf {venv}",
                f"{toolchain.python} -m venv {venv}",
                # pip's own CA bundle would not trust a TLS-inspecting proxy; the host's does.
                f"PIP_CERT=/etc/ssl/certs/ca-certificates.crt {venv}/bin/pip install --quiet "
                f"--disable-pip-version-check {shlex.quote(toolchain.uv.pin)}",
                f"touch {marker}",
            ],
        )
