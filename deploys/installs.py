"""What a daemon runs from: its pinned source checkout and its locked virtualenv."""

from __future__ import annotations

import shlex
from io import StringIO
from pathlib import Path

from pyinfra.api.operation import OperationMeta
from pyinfra.context import host
from pyinfra.facts.git import GitLocalCommit
from pyinfra.operations import files, server

from deploys.state import exists, link_target
from deploys.toolchain import Tools
from homelab.locks import VENV_RECIPE, Lock, lock_for, locked_venv_target
from homelab.model import Daemon


def source_checkout(daemon: Daemon) -> list[OperationMeta]:
    """The component's code at its pinned reference, for services no registry carries."""
    source = daemon.source
    if source is None:
        return []
    dest = daemon.source_dir
    head = host.get_fact(GitLocalCommit, repo=dest)
    wanted = host.get_fact(GitLocalCommit, repo=dest, ref=f"{source.ref}^{{commit}}")
    if head is not None and head == wanted:
        return []
    q = shlex.quote
    return [
        server.shell(
            name=f"Check out {source.url} at {source.ref}",
            commands=[
                f"test -d {dest}/.git || git clone --no-checkout {q(source.url)} {dest}",
                f"git -C {dest} fetch --tags origin {q(source.ref)}",
                f"git -C {dest} checkout --detach {q(source.ref)}",
            ],
        )
    ]


def virtualenv(daemon: Daemon, tools: Tools) -> list[OperationMeta]:
    """The locked requirements, installed blue/green: a new venv beside the old, then a switch.

    The venv is named by its lock's hash and built completely before the ``venv`` link moves
    to it, so a failed install leaves the running service on the venv it had.
    """
    if not daemon.requirements:
        return []
    return locked_venv(lock_for(daemon), daemon.install_dir, daemon.venv, tools)


def locked_venv(
    lock: Lock,
    install_dir: str,
    venv: str,
    tools: Tools,
    package: Path | None = None,
    built: str | None = None,
    finish: tuple[str, ...] = (),
) -> list[OperationMeta]:
    """A lock installed blue/green into ``<install_dir>/venvs/<hash>``, ``venv`` linked to it.

    ``package``, a wheel, goes in after the lock with ``--no-deps`` (the lock holds its
    dependencies); its hash is part of the venv's name, so a changed package builds anew.
    ``built``, a folder of wheels built on the host (named by their inputs), is where the
    lock's packages come from, and nothing is built from source: the folder's name is part
    of the venv's, so a wheel built from other inputs makes a new venv. ``finish``: commands
    run in the new venv's folder (``$VENV``) before it counts as complete.
    """
    text = lock.path.read_text()
    target = locked_venv_target(lock, install_dir, package, built)
    root, digest = target.rsplit("/venvs/", 1)
    if link_target(venv) == target:
        return []
    ops: list[OperationMeta] = []
    if not exists(f"{target}/.complete"):
        ops.append(
            files.put(
                name=f"Lock {lock.path.name}",
                src=StringIO(text),
                dest=f"{target}.requirements.txt",
                mode="0644",
            )
        )
        install_package: list[str] = []
        if package is not None:
            wheel = f"{root}/venvs/{package.name}"
            ops.append(files.put(name=f"Package {package.name}", src=str(package), dest=wheel))
            install_package = [
                f"{tools.uv_env} {tools.uv} pip install --no-deps --no-index --compile-bytecode "
                f"--python {target}/bin/python {wheel}",
                f"rm -f {wheel}",
            ]
        ops.append(
            server.shell(
                name=f"Install {lock.path.name} into {target}",
                commands=[
                    *venv_commands(target, tools, built),
                    *install_package,
                    *(f"VENV={target} && {command}" for command in finish),
                    f"touch {target}/.complete",
                ],
            )
        )
    ops.append(
        files.link(
            name=f"Switch {venv} to {digest}",
            path=venv,
            target=target,
            force=True,
            force_backup=False,
        )
    )
    ops.append(
        server.shell(
            name=f"Keep the two newest venvs of {root}",
            commands=[
                f"cd {root}/venvs && ls -1t | grep -v -e '^{digest}' | "
                "grep -v '.requirements.txt$' | tail -n +2 | xargs -r rm -rf",
            ],
        )
    )
    return ops


def venv_commands(target: str, tools: Tools, built: str | None = None) -> list[str]:
    """A new venv at ``target`` with the lock at ``<target>.requirements.txt`` (from ``built``'s
    wheels alone when given): what the deploy runs, and the benchmark times."""
    built_args = f" --find-links {built} --no-build" if built else ""
    return [
        f"rm -rf {target}",
        f"{tools.uv_env} {tools.uv} venv --python {tools.python} {target}",
        f"{tools.uv_env} {tools.uv} {' '.join(VENV_RECIPE)} --python {target}/bin/python "
        f"{tools.find_links_args}{built_args} {target}.requirements.txt",
    ]
