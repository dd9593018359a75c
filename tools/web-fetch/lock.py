"""Write requirements.lock beside this file: the tool's dependencies (its pyproject.toml)
resolved for the Mini's toolchain as the model gives it, as ``homelab lock`` resolves the
services' venvs (uv pip compile for the host's Python and platform; it needs the package index).

    uv run python tools/web-fetch/lock.py [--check]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
PYPROJECT = HERE / "pyproject.toml"
LOCK = HERE / "requirements.lock"
FROM = "# from: "


def requirements() -> list[str]:
    with PYPROJECT.open("rb") as handle:
        project = tomllib.load(handle)["project"]
    return list(project["dependencies"])


def header(python_version: str, platform: str) -> str:
    return (
        f"# web-fetch for {platform}, Python {python_version}: written by "
        "`uv run python tools/web-fetch/lock.py`, installed as is.\n"
        f"{FROM}{'; '.join(requirements())}\n"
    )


def main() -> int:
    sys.path.insert(0, str(HERE.parent.parent))
    from homelab.load import DEFAULT_INVENTORY, load_platform

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only say whether it is current")
    args = parser.parse_args()
    toolchain = load_platform(DEFAULT_INVENTORY).mini.toolchain
    head = header(toolchain.python_version, toolchain.platform)
    current = LOCK.is_file() and LOCK.read_text().startswith(head)
    if args.check:
        print(f"{LOCK.name}: {'current' if current else 'missing or stale'}")
        return 0 if current else 1
    result = subprocess.run(
        [
            "uv",
            "pip",
            "compile",
            "-",
            "--python-version",
            toolchain.python_version,
            "--python-platform",
            toolchain.platform,
            "--no-header",
            "--quiet",
        ],
        input="\n".join(requirements()) + "\n",
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        print(f"uv pip compile failed:\n{result.stderr}", file=sys.stderr)
        return 1
    LOCK.write_text(head + result.stdout)
    print(f"wrote {LOCK}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
