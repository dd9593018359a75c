"""The lab's own templates (``lab/templates/``), rendered with the project's filters."""

from __future__ import annotations

from functools import cache
from typing import Any

from jinja2 import Environment, FileSystemLoader

from homelab import PROJECT_ROOT
from homelab.render.engine import environment

LAB_TEMPLATES = PROJECT_ROOT / "lab" / "templates"


@cache
def _lab_environment() -> Environment:
    return environment().overlay(loader=FileSystemLoader(str(LAB_TEMPLATES)))


def render_lab(template: str, **context: Any) -> str:
    return _lab_environment().get_template(template).render(**context)
