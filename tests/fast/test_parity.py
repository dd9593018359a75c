"""Parity with the units the operator runs today, where those are right and ours differed:
the gateway's open-files limit, ov-server's GPU groups, and no output limit above a context."""

from __future__ import annotations

import plistlib

import pytest
from pydantic import ValidationError

from homelab.model import Platform
from homelab.render import daemon_files
from homelab.services import daemon_named, daemons
from homelab.services.litellm import LiteLLM
from homelab.services.mlx import MlxModel
from homelab.services.optillm import OptillmProxy
from homelab.services.ov_server import OvServer
from tests.fast import parse

HUB = "/Users/thestudio/models/hf/hub/models--mlx-community--Qwen2.5-7B-Instruct-4bit"


def unit_of(platform: Platform, name: str) -> dict[str, list[str]]:
    d = daemon_named(platform, "mini", name)
    return parse.unit(daemon_files(platform, d)[0].content)["Service"]


def test_the_gateway_may_hold_65536_open_files(platform: Platform) -> None:
    assert unit_of(platform, "litellm")["LimitNOFILE"] == ["65536"]


#: The daemons that set a limit of their own: the gateway (a socket per client and upstream
#: call) and OptiLLM (its proxy approach leaks a descriptor per request, see its open_files).
LIMITED: dict[str, type[LiteLLM | OptillmProxy]] = {"litellm": LiteLLM, "optillm": OptillmProxy}


@pytest.mark.parametrize("name", sorted(LIMITED))
def test_the_limit_is_the_models(platform: Platform, name: str) -> None:
    mini = platform.host("mini")
    options = mini.get(LIMITED[name])
    assert options is not None
    changed = mini.evolve(**{options.key: options.evolve(open_files=4096)})
    p = platform.evolve(hosts={**platform.hosts, "mini": changed})
    assert unit_of(p, name)["LimitNOFILE"] == ["4096"]


def test_only_the_gateway_and_optillm_set_a_limit(platform: Platform) -> None:
    for d in daemons(platform, "mini"):
        if d.name not in LIMITED:
            assert "LimitNOFILE" not in unit_of(platform, d.name), d.name


def test_a_plist_carries_the_limit_too(platform: Platform) -> None:
    studio = daemons(platform, "studio")[0]
    limited = type(studio)(**{**studio.__dict__, "open_files": 8192})
    plist = plistlib.loads(daemon_files(platform, limited)[0].content.encode())
    assert plist["SoftResourceLimits"] == {"NumberOfFiles": 8192}
    assert plist["HardResourceLimits"] == {"NumberOfFiles": 8192}
    assert "SoftResourceLimits" not in plistlib.loads(
        daemon_files(platform, studio)[0].content.encode()
    )


def test_ov_server_on_the_gpu_joins_render_and_video(platform: Platform) -> None:
    mini = platform.host("mini")
    ov = mini.get(OvServer)
    assert ov is not None and ov.device == "GPU"
    assert unit_of(platform, "ov-server")["SupplementaryGroups"] == ["render video"]
    on_cpu = mini.evolve(ov_server=ov.evolve(device="CPU"))
    cpu = platform.evolve(hosts={**platform.hosts, "mini": on_cpu})
    assert "SupplementaryGroups" not in unit_of(cpu, "ov-server")


def test_an_explicit_output_limit_above_the_context_is_refused() -> None:
    base = dict(
        model_id="mlx-qwen2-5-7b-instruct-4bit",
        repo="mlx-community/Qwen2.5-7B-Instruct-4bit",
        source_path="/Users/thestudio/models/mlx/x",
        cache_path=HUB,
        context_length=32768,
        port=8100,
    )
    with pytest.raises(ValidationError, match=r"max_output_tokens: 65536 is above the context"):
        MlxModel.model_validate({**base, "max_output_tokens": 65536})
    assert MlxModel.model_validate({**base, "max_output_tokens": 32768}).max_output_tokens == 32768
