"""What the server reads from its environment: every variable's name is here, once."""

from __future__ import annotations

import ipaddress
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import dotenv_values

#: Largest body (decoded bytes) a fetch reads; a larger one is refused.
MAX_BYTES_ENV = "WEB_FETCH_MAX_BYTES"
#: Seconds a whole fetch may take (connect, every redirect, the body), and each network step.
TIMEOUT_ENV = "WEB_FETCH_TIMEOUT"
#: Redirects a fetch follows before it gives up.
MAX_REDIRECTS_ENV = "WEB_FETCH_MAX_REDIRECTS"
#: Non-public networks a fetch may reach anyway (CIDRs, comma- or space-separated).
ALLOW_NETWORKS_ENV = "WEB_FETCH_ALLOW_NETWORKS"
#: The gateway's search endpoint, ``http://HOST:PORT/v1/search/<tool>``.
SEARCH_URL_ENV = "LITELLM_SEARCH_URL"
#: Path of an env file (mode 0600) that holds the gateway key as ``LITELLM_PROXY_KEY=...``.
ENV_FILE_ENV = "WEB_FETCH_ENV_FILE"
#: The gateway key: read from the env file, else from the environment.
PROXY_KEY_ENV = "LITELLM_PROXY_KEY"

DEFAULT_MAX_BYTES = 5 * 1024 * 1024
DEFAULT_TIMEOUT = 15.0
DEFAULT_MAX_REDIRECTS = 5
USER_AGENT = "homelab-web-fetch/0.1 (+MCP web.fetch)"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class ConfigError(ValueError):
    """A variable of the environment that the server cannot use."""


@dataclass(frozen=True)
class Settings:
    max_bytes: int = DEFAULT_MAX_BYTES
    timeout: float = DEFAULT_TIMEOUT
    max_redirects: int = DEFAULT_MAX_REDIRECTS
    allow_networks: tuple[Network, ...] = ()
    search_url: str | None = None
    env_file: Path | None = None
    environ: Mapping[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        env_file = env.get(ENV_FILE_ENV, "").strip()
        return cls(
            max_bytes=int(_number(env, MAX_BYTES_ENV, int, DEFAULT_MAX_BYTES, 1)),
            timeout=_number(env, TIMEOUT_ENV, float, DEFAULT_TIMEOUT, 0.1),
            max_redirects=int(_number(env, MAX_REDIRECTS_ENV, int, DEFAULT_MAX_REDIRECTS, 0)),
            allow_networks=parse_networks(env.get(ALLOW_NETWORKS_ENV, "")),
            search_url=env.get(SEARCH_URL_ENV, "").strip() or None,
            env_file=Path(env_file) if env_file else None,
            environ=env,
        )

    def proxy_key(self) -> str:
        """The gateway key, read at each call: from the env file if one is named, else the
        environment. Raises ConfigError when there is none or the file is open to others."""
        if self.env_file is not None:
            try:
                mode = self.env_file.stat().st_mode
            except OSError as error:
                raise ConfigError(f"{ENV_FILE_ENV}: cannot read {self.env_file}: {error}") from None
            if mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise ConfigError(
                    f"{ENV_FILE_ENV}: {self.env_file} is open to others "
                    f"(mode {stat.S_IMODE(mode):04o}); it must be 0600"
                )
            key = dotenv_values(self.env_file).get(PROXY_KEY_ENV)
            if key:
                return key
        key = self.environ.get(PROXY_KEY_ENV, "")
        if key:
            return key
        where = f"{self.env_file} nor the environment" if self.env_file else "the environment"
        raise ConfigError(f"no gateway key: neither {where} sets {PROXY_KEY_ENV}")


def parse_networks(text: str) -> tuple[Network, ...]:
    networks = []
    for item in re.split(r"[,\s]+", text.strip()):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ConfigError(f"{ALLOW_NETWORKS_ENV}: {item!r} is not a CIDR network") from None
    return tuple(networks)


def _number(
    env: Mapping[str, str], name: str, kind: type[int] | type[float], default: float, minimum: float
) -> float:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = kind(text)
    except ValueError:
        raise ConfigError(f"{name}: {text!r} is not a number") from None
    if value < minimum:
        raise ConfigError(f"{name}: {text} is below {minimum}")
    return value
