"""The homelab LLM platform: its typed model, the files it renders, and the ``homelab`` CLI."""

from pathlib import Path

#: The project's root: where ``inventory.py``, ``group_data/`` and ``templates/`` live.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
