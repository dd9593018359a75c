"""A deploy that offers one broken file to the host running its service, through the same guard
the real deploys use, so a lab test can see it refused. ``--data bad_change=NAME`` picks the
change, ``--limit HOST`` the host (one whose data places the service)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from pyinfra.api.exceptions import PyinfraError
from pyinfra.context import host

import deploys.registry  # noqa: F401  (registers every service's deployer)
from deploys.files import guarded_put
from deploys.init import activation
from deploys.litellm import LiteLLMDeploy
from deploys.service import deployer_for
from deploys.toolchain import tools_for
from homelab.model import Platform
from homelab.render import daemon_files
from homelab.services import service_named

#: Each change: the service, which of its files ("config" or "unit") and how it is broken.
BREAK: dict[str, tuple[str, str, Callable[[str], str]]] = {
    # An operator adds a model whose key names a variable nobody set.
    "litellm": (
        "litellm",
        "config",
        lambda text: text.replace(
            "model_list:\n",
            "model_list:\n  - model_name: ov-unset-key\n    litellm_params:\n"
            "      model: openai/x\n      api_base: http://127.0.0.1:9000/v1\n"
            "      api_key: os.environ/HOMELAB_NEVER_SET\n",
            1,
        ),
    ),
    # The same, its check started early (in the background) as a day-two deploy starts it.
    "litellm-early": ("litellm", "config", lambda text: BREAK["litellm"][2](text)),
    # An engine module that does not exist.
    "searxng": (
        "searxng",
        "config",
        lambda text: text.replace(
            "engines:\n",
            "engines:\n  - name: nowhere\n    engine: no_such_engine\n    shortcut: nw\n",
            1,
        ),
    ),
    # A directive value systemd cannot parse (it would drop it and start anyway).
    "unit": (
        "litellm",
        "unit",
        lambda text: text.replace("Restart=always", "Restart=sometimes", 1),
    ),
}

platform = host.data.get("platform")
assert isinstance(platform, Platform)
name = str(host.data.get("bad_change"))
if name not in BREAK:
    raise PyinfraError(f"bad_change: {name!r} is none of {sorted(BREAK)}")
service, which, breaks = BREAK[name]
module = service_named(platform, service)
if module.on(platform, host.name) is None:
    raise PyinfraError(f"bad_change: {host.name} runs no {service} (--limit its host)")
here = platform.host(host.name)
tools = tools_for(here.layout, here.toolchain, here.system)
# The service's own deploy (a lab substitute's, where it has one): the same checks.
deployer = deployer_for(module).daemon_deploy.of(platform, module, host.name, tools)
daemon = deployer.daemon
target = daemon.unit_path if which == "unit" else daemon.config
good = next(f for f in daemon_files(platform, daemon) if f.path == target)
bad = dataclasses.replace(good, content=breaks(good.content))
assert bad.content != good.content, f"{name}: the break did not apply to {good.path}"
if which == "unit":
    guarded_put(bad, activation(daemon).unit_check, deployer.staging)
elif name == "litellm-early":
    assert isinstance(deployer, LiteLLMDeploy)
    assert deployer.early(bad) is not None, "no early check on this host (a new gateway?)"
    deployer.start_early_check(bad)
    deployer.place(bad)
else:
    deployer.place(bad)
