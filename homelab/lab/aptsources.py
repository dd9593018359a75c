"""The machine's own apt sources: where debootstrap fetches from and what apt uses in the hosts."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from homelab.lab.errors import LabError

Stanza = dict[str, str]
#: Keyrings the hosts have too (from Debian's debian-archive-keyring package).
DEBIAN_KEYRING_DIR = "/usr/share/keyrings/"
DEBIAN_KEYRING_PREFIX = "debian-archive-"


def parse_deb822(text: str) -> list[Stanza]:
    """Stanzas of a deb822 ``.sources`` file, comments dropped, continuation lines joined."""
    stanzas: list[Stanza] = []
    current: Stanza = {}
    key = ""
    for line in [*text.splitlines(), ""]:
        if line.startswith("#"):
            continue
        if not line.strip():
            if current:
                stanzas.append(current)
            current, key = {}, ""
        elif line[0] in " \t" and key:
            current[key] += "\n" + line.strip()
        elif ":" in line:
            key, _, value = line.partition(":")
            key = key.strip()
            current[key] = value.strip()
    return stanzas


def parse_one_line(text: str) -> list[Stanza]:
    """``deb [options] URI SUITE COMPONENTS...`` lines, as deb822 stanzas."""
    stanzas: list[Stanza] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        stanza: Stanza = {"Types": parts[0]}
        rest = parts[1:]
        if rest and rest[0].startswith("["):
            options: list[str] = []
            while rest:
                word = rest.pop(0)
                options.append(word.strip("[]"))
                if word.endswith("]"):
                    break
            for option in " ".join(options).split():
                name, _, value = option.partition("=")
                if name == "signed-by":
                    stanza["Signed-By"] = value
                elif name == "arch":
                    stanza["Architectures"] = value
        if len(rest) < 2:
            continue
        stanza["URIs"], stanza["Suites"] = rest[0], rest[1]
        stanza["Components"] = " ".join(rest[2:])
        stanzas.append(stanza)
    return stanzas


def machine_stanzas(apt_dir: Path = Path("/etc/apt")) -> list[Stanza]:
    """Every enabled source of the machine, in apt's order (disabled files are not read)."""
    stanzas: list[Stanza] = []
    main_list = apt_dir / "sources.list"
    if main_list.is_file():
        stanzas += parse_one_line(main_list.read_text())
    parts = apt_dir / "sources.list.d"
    for path in sorted(parts.glob("*")) if parts.is_dir() else []:
        if path.suffix == ".list":
            stanzas += parse_one_line(path.read_text())
        elif path.suffix == ".sources":
            stanzas += parse_deb822(path.read_text())
    return [s for s in stanzas if s.get("Enabled", "yes").lower() != "no"]


def debian_stanzas(stanzas: list[Stanza], suite: str) -> list[Stanza]:
    """The Debian archive's sources for ``suite`` (and its -updates, -security), usable in a host.

    A third-party source is left out: its key is not in the hosts, and apt would refuse it.
    """
    chosen: list[Stanza] = []
    for stanza in stanzas:
        if "deb" not in stanza.get("Types", "").split():
            continue
        suites = [s for s in stanza.get("Suites", "").split() if s.split("-")[0] == suite]
        signed_by = stanza.get("Signed-By", "")
        if not suites or "main" not in stanza.get("Components", "").split():
            continue
        if signed_by and not (
            signed_by.startswith(DEBIAN_KEYRING_DIR)
            and Path(signed_by).name.startswith(DEBIAN_KEYRING_PREFIX)
        ):
            continue
        chosen.append({**stanza, "Types": "deb", "Suites": " ".join(suites)})
    return chosen


def mirror(stanzas: list[Stanza], suite: str, environ: Mapping[str, str] | None = None) -> str:
    """The Debian mirror that carries ``suite`` itself (not -security): debootstrap's MIRROR."""
    env = os.environ if environ is None else environ
    if env.get("HOMELAB_LAB_MIRROR"):
        return env["HOMELAB_LAB_MIRROR"]
    for stanza in debian_stanzas(stanzas, suite):
        if suite in stanza["Suites"].split():
            return stanza["URIs"].split()[0]
    raise LabError(
        f"the machine's apt sources name no Debian mirror for {suite}",
        f"add one to /etc/apt/sources.list.d/ (Suites: {suite}) or set HOMELAB_LAB_MIRROR=URL",
    )


def render(stanzas: list[Stanza]) -> str:
    """A deb822 ``.sources`` file for the hosts."""
    blocks = []
    for stanza in stanzas:
        lines = []
        for key, value in stanza.items():
            first, *more = value.split("\n")
            lines.append(f"{key}: {first}")
            lines += [f" {extra}" for extra in more]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def acquire_settings(apt_dir: Path = Path("/etc/apt")) -> dict[str, str]:
    """The machine's apt.conf snippets that set ``Acquire::`` options (proxies, date checks).

    The hosts reach the same mirrors through the same path, so they need the same settings.
    """
    found: dict[str, str] = {}
    conf_d = apt_dir / "apt.conf.d"
    candidates = [apt_dir / "apt.conf", *(sorted(conf_d.iterdir()) if conf_d.is_dir() else [])]
    for path in candidates:
        if path.is_file():
            text = path.read_text(errors="replace")
            if "Acquire::" in text or "Acquire {" in text:
                found[path.name] = text
    return found
