"""The hosts' secrets: kept through every deploy, replaced only on purpose, copied off the host.

Each host keeps one root-only file per secret in its store (``Layout.secret_store``); each
service's 0600 env file is written on the host from it (``deploys/steps.py``). Three things
guard the values:

- A deploy refuses, before it changes anything, a reference to a secret the host never had
  when the service using it already has its secrets (:func:`refusal`, run by
  ``deploys/host.py``): that is a rename or a typo, and generating a new value would replace
  the one every client holds.
- ``homelab rotate HOST SECRET`` (:func:`rotate`) replaces one value on purpose, or adds one
  the data names and the host lacks, and rewrites and restarts every daemon that reads it.
- ``homelab backup`` fetches a copy of the store beside Open WebUI's copy, and ``restore``
  puts it back (:func:`fetch_store`, :func:`put_back_store`).

The consumers of a secret are derived from the daemons' ``secrets`` mappings, never listed.
Values never leave the host except in the store copy ``backup`` fetches (0600, git-ignored).
"""

from __future__ import annotations

import argparse
import base64
import os
import posixpath
import shlex
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from homelab.model import Platform, System
from homelab.model.base import SecretRef
from homelab.model.common import Layout
from homelab.services import Daemon, daemons

#: A new secret's value: 32 random bytes, hex (what every service here accepts as a key).
GENERATE = "head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n'"
#: A copy of a host's store on the operator's machine: ``<copy id>.secrets.tar.gz`` beside
#: Open WebUI's ``<copy id>.tar.gz`` (not a copy id itself: the copy listing ignores it).
STORE_SUFFIX = ".secrets.tar.gz"
#: Seconds a restarted daemon has to answer its health endpoint (as the deploy waits).
HEALTH_WAIT = 300


class SecretsFailed(Exception):
    """A rotation or a store copy that did not happen; the message says why, in one line."""


# --- the deploy's refusal --------------------------------------------------------------------


def refusal(needs: Mapping[str, Iterable[str]], have: Iterable[str]) -> str | None:
    """One line refusing the secrets a settled service needs and the store lacks; None: fine.

    ``needs``: for each service that already has its secrets env file on the host, the store
    names it reads; ``have``: the names in the host's store.
    """
    present = sorted(set(have))
    missing: dict[str, list[str]] = {}
    for service, names in sorted(needs.items()):
        for name in sorted(set(names) - set(present)):
            missing.setdefault(name, []).append(service)
    if not missing:
        return None
    wanted = "; ".join(
        f"{', '.join(users)} {'needs' if len(users) == 1 else 'need'} {name}"
        for name, users in missing.items()
    )
    never = "which this host has never had" if len(missing) == 1 else "which this host never had"
    first = next(iter(missing))
    return (
        f"refused: {wanted}, {never}; it has {', '.join(present) or 'no secrets'} "
        f"(renamed? a new secret on purpose: homelab rotate HOST {first})"
    )


# --- the env files, written on the host from the store ---------------------------------------


def secret_names(daemon: Daemon) -> str:
    """The names file beside a secrets env: which store entry each variable takes."""
    return names_of(daemon.secrets)


def names_of(refs: Mapping[str, SecretRef]) -> str:
    """A names file's lines: ``VARIABLE=STORE_NAME``, sorted."""
    return "".join(f"{var}={ref.env}\n" for var, ref in sorted(refs.items()))


def write_env(daemon: Daemon) -> str:
    """Shell that writes ``daemon``'s secrets env from the store, atomically, 0600, its own."""
    env = daemon.secrets_env
    assert env, f"{daemon.name} has no secrets"
    # Where only root reads it (launchd's shell reads it, then becomes the daemon): root's group.
    group = daemon.user if daemon.system.init.holds_sockets else daemon.system.root_group
    return env_writer(env, daemon.secrets, daemon.layout, daemon.user, group)


def env_writer(
    env: str, refs: Mapping[str, SecretRef], layout: Layout, user: str, group: str
) -> str:
    """Shell that writes ``env`` (``user``'s alone, 0600) from the store, atomically: each
    variable of ``refs`` with the value of the secret it names."""
    lines = " ".join(
        f'"$(printf \'%s=%s\\n\' {var} "$(cat {layout.secret_file(ref.env)})")"'
        for var, ref in sorted(refs.items())
    )
    return (
        f"umask 077 && tmp=$(mktemp {env}.XXXXXX) && printf '%s\\n' {lines} > $tmp"
        f" && chown {user}:{group} $tmp && chmod 0600 $tmp && mv $tmp {env}"
    )


def consumers(platform: Platform, role: str, name: str) -> list[Daemon]:
    """The enabled daemons of ``role`` that read secret ``name`` (from their env file, or as a
    credential the init system hands them at start), in deploy order."""
    path = platform.host(role).layout.secret_file(name)
    return [
        d
        for d in daemons(platform, role)
        if d.enabled
        and (any(ref.env == name for ref in d.secrets.values()) or path in d.credentials.values())
    ]


def credential_marks(readers: Sequence[Daemon], changed: str) -> str:
    """Shell printing ``rewritten NAME`` for each reader handed a changed secret as a
    credential: it reads it only when it starts. ``changed``: a shell word holding the changed
    store files' names, space-separated."""
    parts = []
    for d in readers:
        files = sorted(
            posixpath.basename(p)
            for p in d.credentials.values()
            if posixpath.dirname(p) == d.layout.secret_store
        )
        if files:
            tests = " || ".join(f'echo " {changed} " | grep -q " {f} "' for f in files)
            parts.append(f"{{ {{ {tests}; }} && echo rewritten {d.name} || true; }}")
    return "; ".join(parts) if parts else "true"


def _refresh(readers: Sequence[Daemon]) -> str:
    """Shell: rewrite the env (and names) file of each reader that has one on the host; print
    ``rewritten NAME`` for each whose content changed. Services not deployed yet are skipped."""
    q = shlex.quote
    parts = []
    for d in readers:
        env = d.secrets_env
        if env is None:
            continue  # a credential reader: its init system hands it the store's file
        parts.append(
            f"if [ -e {env} ]; then old=$(sha256sum < {env}); "
            f"( {write_env(d)} ) && printf %s {q(secret_names(d))} > {env}.names "
            f"&& chmod 0600 {env}.names && "
            f'{{ [ "$old" = "$(sha256sum < {env})" ] || echo rewritten {d.name}; }}; fi'
        )
    return " && ".join(parts) if parts else "true"


def waves(readers: Sequence[Daemon]) -> list[list[Daemon]]:
    """The readers in restart order, by their units' ``After=``: first those ordered after no
    other reader (the gateway), then those ordered after them (its clients), and so on."""
    left, out = list(readers), []
    while left:
        units = {d.unit for d in left}
        wave = [d for d in left if not set(d.after) & (units - {d.unit})] or left
        out.append(wave)
        left = [d for d in left if d not in wave]
    return out


def _restart(readers: Sequence[Daemon], system: System) -> str:
    """Shell: restart the readers ``$rewritten`` names that run now, wave by wave (see
    :func:`waves`), each wave answering its health check before the next one restarts.

    Prints ``reloaded NAME ...`` and ``restarted NAME ...`` first. The gateway goes alone, so
    it comes back as fast as it can (its clients' starts would compete with it for the CPU),
    then its clients restart together. A daemon whose reload takes its secrets in (the
    gateway under gunicorn) is reloaded rather than restarted: its old workers finish what
    they have while new ones start on the new key.
    """
    if not readers:
        return "true"

    def picked(d: Daemon) -> str:
        return f'echo "$rewritten" | grep -qx "rewritten {d.name}" && {_running(d)}'

    def member(d: Daemon) -> str:
        return f"echo \" $chosen \" | grep -q ' {d.name} '"

    def wave_script(wave: list[Daemon]) -> str:
        restart = " && ".join(
            system.init.restart_chosen([(member(d), d.unit) for d in group], reload)
            for reload, group in (
                (False, [d for d in wave if not takes_secrets_on_reload(d)]),
                (True, [d for d in wave if takes_secrets_on_reload(d)]),
            )
            if group
        )
        waits = " && ".join(
            f"{{ ! {member(d)} || curl -fsS -o /dev/null --max-time 5 --retry {HEALTH_WAIT} "
            f"--retry-delay 1 --retry-all-errors {shlex.quote(d.health_url)}; }}"
            for d in wave
        )
        return f"{{ {restart}; }} && {waits}"

    chosen = " ".join(f"$({picked(d)} && echo {d.name} || true)" for d in readers)
    said = {
        word: " ".join(f"$({member(d)} && echo {d.name} || true)" for d in group)
        for word, group in (
            ("reloaded", [d for d in readers if takes_secrets_on_reload(d)]),
            ("restarted", [d for d in readers if not takes_secrets_on_reload(d)]),
        )
    }
    report = " && ".join(f'echo "{word} $(echo {names})"' for word, names in said.items())
    steps = " && ".join(wave_script(w) for w in waves(readers))
    return f'chosen="{chosen}" && {report} && {steps}'


def takes_secrets_on_reload(d: Daemon) -> bool:
    """Whether a reload brings the daemon onto its rewritten secrets (the gateway's does: its
    new workers start on them while the old ones finish; nothing queues behind a stop)."""
    return (
        d.system.init.reloads
        and d.reloadable
        and d.secrets_env is not None
        and d.secrets_env in d.reload_files
    )


def _running(d: Daemon) -> str:
    return d.system.init.running_command(d.unit)


# --- reaching a host -------------------------------------------------------------------------


def on_host(
    inventory: Path, role: str, command: str, stdin: bytes | None = None, timeout: float = 900
) -> subprocess.CompletedProcess[bytes]:
    """Run ``command`` on the host as root: the one way this module reaches a host.

    Reached as ``homelab backup`` reaches it: pyinfra's connection for the inventory
    (``homelab.console.connect``). Bytes travel as base64 through the text channel: the
    command's output (a store archive) through a root-only temporary file on the host, its
    exit status kept.
    """
    from homelab.console.connect import Unreachable, connected

    q = shlex.quote
    feed = 'base64 -d > "$i" && ' if stdin is not None else ""
    given = ' < "$i"' if stdin is not None else " < /dev/null"
    wrapped = (
        "umask 077 && i=$(mktemp) && o=$(mktemp) && "
        f'{feed}{{ sh -c {q(command)}{given} > "$o"; rc=$?; base64 -w0 "$o"; '
        'rm -f "$i" "$o"; exit $rc; }'
    )
    text = base64.b64encode(stdin).decode() if stdin is not None else None
    try:
        with connected(inventory, [role]) as remotes:
            done = remotes[role].run(wrapped, stdin=text, timeout=int(timeout))
    except Unreachable as error:
        return subprocess.CompletedProcess(command, 255, b"", str(error).encode())
    out = base64.b64decode(done.stdout.strip() or b"")
    return subprocess.CompletedProcess(command, 0 if done.ok else 1, out, done.stderr.encode())


def _checked(result: subprocess.CompletedProcess[bytes], what: str) -> bytes:
    """The command's output; a failure raised as one line (the last its stderr says)."""
    if result.returncode != 0:
        last = result.stderr.decode(errors="replace").strip().splitlines() or ["(no message)"]
        raise SecretsFailed(f"{what} failed on the host: {last[-1]}")
    return result.stdout


# --- rotation --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rotation:
    """What ``rotate`` did: the secret, the daemons rewritten and restarted, how long it took."""

    name: str
    added: bool
    rewritten: tuple[str, ...]
    reloaded: tuple[str, ...]
    restarted: tuple[str, ...]
    seconds: float
    path: str
    elsewhere: tuple[str, ...]


def rotation_script(platform: Platform, role: str, name: str) -> str:
    """Shell for the host: a new value into the store atomically, the readers' env files
    rewritten, the running readers restarted (gateway first) and waited for."""
    layout = platform.host(role).layout
    readers = consumers(platform, role, name)
    path = layout.secret_file(name)
    new = (
        f"umask 077 && mkdir -p {layout.secret_store} && "
        f"if [ -e {path} ]; then echo replaced; else echo added; fi && "
        f"tmp=$(mktemp {layout.secret_store}/.{name}.XXXXXX) && {GENERATE} > $tmp && "
        f"test -s $tmp && mv $tmp {path}"
    )
    return " && ".join(
        [
            new,
            f"rewritten=$({_refresh(readers)}; {credential_marks(readers, name)})",
            'echo "$rewritten"',
            *_tool_files(platform, role, name),
            _restart(readers, platform.host(role).os),
        ]
    )


def _said(lines: Iterable[str], word: str) -> list[str]:
    """The words after ``word`` on the host's report lines that start with it."""
    return [w for line in lines if line.split()[:1] == [word] for w in line.split()[1:]]


def outside_readers(platform: Platform, name: str) -> tuple[str, ...]:
    """Who reads ``name`` without a daemon on the host: MCP tools, from their own key file
    (which rotation rewrites; an MCP client starting one afterwards reads the new value)."""
    from homelab.services.mcp_tools import SERVICE as MCP_TOOLS
    from homelab.services.mcp_tools import secrets

    if name not in {ref.env for ref in secrets(platform).values()}:
        return ()
    return tuple(
        f"MCP tool {tool.name}" for _host, mcp in MCP_TOOLS.placed(platform) for tool in mcp.tools
    )


def _tool_files(platform: Platform, role: str, name: str) -> list[str]:
    """Shell rewriting each MCP tool's key file that reads ``name`` (where the file exists)."""
    from homelab.services.mcp_tools import install_of, secrets, tools_on

    refs = secrets(platform)
    if name not in {ref.env for ref in refs.values()}:
        return []
    out = []
    for tool in tools_on(platform, role).tools:
        where = install_of(platform, role, tool)
        writer = env_writer(where.secrets_env, refs, where.layout, where.user, where.user)
        out.append(f"{{ [ ! -e {where.secrets_env} ] || {{ {writer}; }}; }}")
    return out


def rotate(inventory: Path, role: str, name: str) -> Rotation:
    """Replace secret ``name`` on ``role``'s host on purpose and bring every reader onto it.

    Order and window: the gateway key is checked by LiteLLM and presented by its clients
    (Open WebUI, OptiLLM, the MCP tools' clients, LAN clients). LiteLLM takes one master key,
    so there is no order that drops nothing: once the gateway runs on the new key, a client
    still holding the old one is refused until it has the new one, and a client that gets the
    new key first is refused until the gateway has it. So the store and every env file are
    written first (nothing reads them until a restart), then the gateway restarts alone and is
    waited for (while it restarts, its port refuses connections: every client fails, whatever
    the order), then its clients on the host restart together right after it (ordered by the
    units' ``After=``, see :func:`waves`). The window: the gateway's own restart for every
    client; for Open WebUI and OptiLLM, that plus their own restart (they answer nothing
    while they restart anyway); for clients off the host, until they read the new key.
    ``tests/lab/test_secrets_rotation.py`` measures it with a steady client that reads the key
    again when refused, as a restarted client does.
    """
    from homelab.load import load_platform

    platform = load_platform(inventory)
    if role not in platform.hosts:
        hosts = ", ".join(platform.hosts)
        raise SecretsFailed(f"no host {role!r} in the inventory (hosts: {hosts})")
    readers = consumers(platform, role, name)
    if not readers:
        used = sorted(
            {r.env for d in daemons(platform, role) if d.enabled for r in d.secrets.values()}
        )
        raise SecretsFailed(
            f"no service on {role} reads {name}; its secrets: {', '.join(used) or 'none'}"
        )
    began = time.monotonic()
    script = rotation_script(platform, role, name)
    out = _checked(on_host(inventory, role, script), "rotate").decode()
    seconds = time.monotonic() - began
    lines = out.splitlines()
    return Rotation(
        name=name,
        added=lines[:1] == ["added"],
        rewritten=tuple(_said(lines, "rewritten")),
        reloaded=tuple(_said(lines, "reloaded")),
        restarted=tuple(_said(lines, "restarted")),
        seconds=seconds,
        path=platform.host(role).layout.secret_file(name),
        elsewhere=outside_readers(platform, name),
    )


# --- the store, copied off the host and put back ---------------------------------------------


def store_copy(folder: Path, copy_id: str) -> Path:
    """Where the store copy made with Open WebUI's copy ``copy_id`` lives on this machine."""
    return folder / f"{copy_id}{STORE_SUFFIX}"


def fetch_store(inventory: Path, role: str, store: str, target: Path) -> list[str]:
    """The host's secret store as one archive at ``target`` (0600 from its first byte).

    Returns the names it holds. The archive is written beside ``target`` and moved there only
    once it is complete and readable.
    """
    result = on_host(inventory, role, f"tar -C {shlex.quote(store)} -czf - .")
    _checked(result, "copying the secret store")
    partial = target.with_name(f".{target.name}.partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(result.stdout)
    try:
        names = store_names(partial)
    except (tarfile.TarError, OSError) as error:
        partial.unlink(missing_ok=True)
        raise SecretsFailed(f"the secret store copy is not readable: {error}") from error
    if not names:
        partial.unlink(missing_ok=True)
        raise SecretsFailed(f"{store} on {role} holds no secret")
    partial.chmod(0o600)
    partial.replace(target)
    return names


def store_names(archive: Path) -> list[str]:
    """The secrets' names in a store copy (regular files at its top, nothing else)."""
    with tarfile.open(archive, "r:gz") as tar:
        return sorted(
            Path(m.name).name for m in tar.getmembers() if m.isfile() and "/" not in m.name[2:]
        )


def put_back_script(platform: Platform, role: str, aside: str) -> str:
    """Shell for the host: the copy (on stdin) merged over the store atomically, what was
    there kept aside at ``aside``, every env file rewritten from the result, and the running
    daemons whose env changed restarted (a stopped one is left for its owner to start)."""
    layout = platform.host(role).layout
    store = layout.secret_store
    readers = [d for d in daemons(platform, role) if d.enabled and (d.secrets_env or d.credentials)]
    q = shlex.quote
    steps = [
        "umask 077",
        f"mkdir -p {q(os.path.dirname(aside))} {store}",
        f"tar -C {store} -czf {q(aside)} .",
        f"rm -rf {store}.incoming && cp -a {store} {store}.incoming",
        f"tar -C {store}.incoming --no-same-owner -xzf -",
        f"chown -R root: {store}.incoming && chmod 0700 {store}.incoming",
        f"find {store}.incoming -type f -exec chmod 0600 {{}} +",
        f"rm -rf {store}.old && mv {store} {store}.old && mv {store}.incoming {store}",
        f"changed=$(cd {store} && for f in *; do cmp -s $f {store}.old/$f || echo $f; done)",
        f"rm -rf {store}.old",
        'echo "changed $(echo $changed)"',
        f"rewritten=$({_refresh(readers)}; {credential_marks(readers, '$(echo $changed)')})",
        'echo "$rewritten"',
        # The MCP tools' key files too: they read the gateway key from their own file.
        *_tool_files(platform, role, platform.gateway.proxy_key.env),
    ]
    return " && ".join([*steps, _restart(readers, platform.host(role).os)])


@dataclass(frozen=True)
class PutBack:
    """What putting a store copy back did: secrets whose value changed, daemons rewritten and
    restarted, where the store that was there is kept on the host."""

    changed: tuple[str, ...]
    rewritten: tuple[str, ...]
    reloaded: tuple[str, ...]
    restarted: tuple[str, ...]
    aside: str


def put_back_store(
    inventory: Path, role: str, platform: Platform, archive: Path, copy_id: str
) -> PutBack:
    """Put a fetched store copy back on the host; what was there is kept aside on the host."""
    layout = platform.host(role).layout
    aside = f"{layout.backup_dir('secrets')}/{copy_id}-before-restore{STORE_SUFFIX}"
    result = on_host(
        inventory, role, put_back_script(platform, role, aside), stdin=archive.read_bytes()
    )
    out = _checked(result, "restoring the secret store").decode().splitlines()
    return PutBack(
        changed=tuple(_said(out, "changed")),
        rewritten=tuple(_said(out, "rewritten")),
        reloaded=tuple(_said(out, "reloaded")),
        restarted=tuple(_said(out, "restarted")),
        aside=aside,
    )


# --- the command -----------------------------------------------------------------------------


def register_rotate(p: argparse.ArgumentParser) -> None:
    """``homelab rotate HOST SECRET``: its arguments (``--inventory`` is added by the CLI)."""
    p.description = (
        "Replace one secret on the host on purpose (or add one the data names and the host "
        "lacks): a new random value in its store, every service reading it rewritten, the "
        "gateway reloaded first, the others restarted after it."
    )
    p.add_argument("host", help="the host whose secret to replace")
    p.add_argument("secret", help="the secret's name, as in the data's env:NAME")
    p.set_defaults(func=cmd_rotate)


def cmd_rotate(args: argparse.Namespace) -> int:
    try:
        done = rotate(args.inventory, args.host, args.secret)
    except (SecretsFailed, subprocess.TimeoutExpired) as error:
        print(f"error: rotate {args.host} {args.secret}: {error}", file=sys.stderr)
        return 1
    print(
        f"{'added' if done.added else 'rotated'} {done.name} on {args.host} "
        f"in {done.seconds:.1f} s: its value is in {done.path} there"
    )
    print(f"  env files rewritten: {', '.join(done.rewritten) or '(none on the host yet)'}")
    print(f"  reloaded (first): {', '.join(done.reloaded) or '(none)'}")
    print(f"  restarted (after it): {', '.join(done.restarted) or '(none running)'}")
    for who in done.elsewhere:
        print(f"  {who}: its key file rewritten; it reads it at its next start")
    return 0
