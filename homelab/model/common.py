"""What every host and service of the model shares: the file layout, the toolchain, packages."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from homelab.model.base import AbsPath, Bool, Frozen, Listener, Name


class Layout(Frozen):
    """Where a host keeps the platform's files. Per-service paths derive from these roots."""

    etc: AbsPath = "/etc/homelab-llm"
    opt: AbsPath = "/opt/homelab-llm"
    state: AbsPath = "/var/lib/homelab-llm"
    secrets: AbsPath = "/etc/homelab-llm/secrets"
    logs: AbsPath = "/var/log/homelab-llm"
    backups: AbsPath = "/var/lib/homelab-llm/backups"
    systemd_units: AbsPath = "/etc/systemd/system"
    launchd_daemons: AbsPath = "/Library/LaunchDaemons"
    launchd_prefix: str = "com.homelab-llm"

    def config_dir(self, service: str) -> str:
        return f"{self.etc}/{service}"

    def state_dir(self, service: str) -> str:
        return f"{self.state}/{service}"

    def install_dir(self, install: str) -> str:
        """Everything installed for one kind of daemon: its venvs, its source, its scripts."""
        return f"{self.opt}/{install}"

    def venv(self, install: str) -> str:
        """The link to the venv in use (``venvs/<hash>`` beside it holds the real ones)."""
        return f"{self.install_dir(install)}/venv"

    def source_dir(self, install: str) -> str:
        """A component's code, for those no registry carries."""
        return f"{self.install_dir(install)}/src"

    def secrets_env(self, service: str) -> str:
        return f"{self.secrets}/{service}.env"

    def backup_dir(self, service: str) -> str:
        return f"{self.backups}/{service}"

    @property
    def secret_store(self) -> str:
        """One root-only file per secret, generated once on the host."""
        return f"{self.secrets}/store"

    def secret_file(self, name: str) -> str:
        """The store's file of one secret, by its variable's name."""
        return f"{self.secret_store}/{name}"


class PythonPackage(Frozen):
    """A service installed from PyPI into its own virtualenv, at a pinned version.

    The deploy installs the lock compiled from these (``deploys/requirements/``), never a
    fresh resolution, so a rebuild next year installs the same versions.
    """

    requirement: str = Field(description="the top-level requirement, e.g. 'litellm[proxy]'")
    version: str = Field(pattern=r"^\d+(\.\d+)*([a-z0-9.+-]*)$")
    also: tuple[str, ...] = Field(default=(), description="more top-level requirements")
    linux_also: tuple[str, ...] = Field(default=(), description="more, on Linux only")

    @property
    def pin(self) -> str:
        return f"{self.requirement}=={self.version}"

    def requirements(self, os: str) -> tuple[str, ...]:
        return (self.pin, *self.also, *(self.linux_also if os == "linux" else ()))


class SystemPackage(Frozen):
    """A program the host's package manager installs: Debian's package on Linux, Homebrew's
    formula on macOS (the host's :class:`~homelab.model.system.System` picks)."""

    debian: str = Field(description="Debian's package")
    debian_program: AbsPath = Field(description="the program Debian's package installs")
    homebrew: str | None = Field(default=None, description="Homebrew's formula; None: none")
    homebrew_program: AbsPath | None = None
    debian_unit: str | None = Field(
        default=None,
        description="the unit Debian's package starts at install; the platform's own unit runs "
        "the program, so this one is kept stopped and disabled",
    )


class Toolchain(Frozen):
    """How a host builds virtualenvs: uv at a pinned version, the host's own Python."""

    uv: PythonPackage = PythonPackage(requirement="uv", version="0.13.9")
    python: AbsPath = Field(default="/usr/bin/python3", description="interpreter of every venv")
    python_version: str = Field(default="3.11", pattern=r"^3\.\d+$")
    platform: str = Field(
        default="x86_64-manylinux_2_36",
        description="uv's --python-platform for the locks (Debian 12: glibc 2.36)",
    )
    find_links: tuple[str, ...] = Field(
        default=("https://download.pytorch.org/whl/cpu/torch/",),
        description="where CPU builds of torch come from (PyPI's are CUDA builds)",
    )
    macos_version: str | None = Field(
        default=None, description="the macOS release wheels must suit (MACOSX_DEPLOYMENT_TARGET)"
    )


#: On Linux, torch comes as its CPU build (found through the toolchain's find_links): the
#: platform has no CUDA, and PyPI's default build drags in gigabytes of CUDA libraries.
CPU_TORCH = "torch==2.13.0"


class Service(Frozen):
    """What every service has: where it listens, who it runs as, whether it is deployed."""

    kind: ClassVar[str]
    listener: Listener
    user: Name
    enabled: Bool = True
