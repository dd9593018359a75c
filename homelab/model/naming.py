"""Handle naming rules of the seed: canonical model ids, dash-only, prefixed by backend."""

from __future__ import annotations

import re
from enum import StrEnum


class Backend(StrEnum):
    """A backend family; its value is the prefix every handle of that family carries."""

    MLX = "mlx"
    OV = "ov"
    OPT = "opt"
    AFM = "afm"
    #: llama.cpp servers: named by the format they serve (``llama-`` is a model family).
    GGUF = "gguf"


class Technique(StrEnum):
    """OptiLLM techniques, chosen per request by a prefix of the model name sent to OptiLLM."""

    MOA = "moa"
    BON = "bon"
    PLANSEARCH = "plansearch"
    SELF_CONSISTENCY = "self_consistency"


#: Prefix of the internal names OptiLLM calls the gateway back with (loop avoidance).
ROUTER_PREFIX = "router-"

#: Organisations whose names turn up as vendor prefixes in model ids copied from a hub.
VENDORS = (
    "mlx-community",
    "lmstudio-community",
    "meta-llama",
    "mistralai",
    "microsoft",
    "google",
    "thebloke",
    "unsloth",
    "bartowski",
    "openai",
    "huggingface",
    "nousresearch",
    "deepseek-ai",
    "ibm-granite",
    "intel",
    "openvino",
    "apple",
)

#: Organisations named like their model family: a prefix only when the family name repeats
#: (``qwen-qwen2-5-7b`` is ``Qwen/Qwen2.5-7B``; ``qwen-coder`` is a model name).
FAMILY_VENDORS = ("qwen", "mistral", "phi", "gemma")

_DASH_ONLY = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


def handle_problems(handle: str, backend: Backend) -> list[str]:
    """Every rule ``handle`` breaks, as messages naming the rule; empty when it is canonical."""
    problems: list[str] = []
    if handle != handle.lower():
        problems.append(f"{handle!r} has upper-case letters (rule: handles are lowercase)")
    if not _DASH_ONLY.match(handle.lower()):
        problems.append(
            f"{handle!r} is not dash-only (rule: letters and digits separated by single dashes; "
            "no '/', '_', '.' or spaces)"
        )
    for technique in Technique:
        dashed = technique.value.replace("_", "-") + "-"
        if handle.startswith(dashed) or handle.removeprefix(f"{backend.value}-").startswith(dashed):
            problems.append(
                f"{handle!r} carries the technique prefix {technique.value!r} (rule: technique "
                "prefixes belong only in OptiLLM selectors; handles stay plain)"
            )
    prefix = f"{backend.value}-"
    if not handle.startswith(prefix):
        problems.append(
            f"{handle!r} does not start with {prefix!r} (rule: handles carry their backend's "
            f"prefix: {', '.join(b.value + '-' for b in Backend)})"
        )
        return problems
    rest = handle.removeprefix(prefix)
    segments = rest.split("-")
    if len(segments) > 1 and segments[0] in FAMILY_VENDORS and segments[1].startswith(segments[0]):
        problems.append(
            f"{handle!r} starts with the vendor prefix {segments[0]!r} after {prefix!r} "
            "(rule: handles are canonical model ids, no vendor prefixes)"
        )
    for vendor in VENDORS:
        vendor_segments = vendor.split("-")
        if segments[: len(vendor_segments)] == vendor_segments and len(segments) > len(
            vendor_segments
        ):
            problems.append(
                f"{handle!r} starts with the vendor prefix {vendor!r} after {prefix!r} "
                "(rule: handles are canonical model ids, no vendor prefixes)"
            )
    return problems
