"""Run the deploy's LiteLLM config checker several times in one process of LiteLLM's venv.

Importing LiteLLM's proxy takes over ten seconds of CPU; a test process per check paid it for
each. This script runs there (``python litellm_driver.py CHECKER``), reads one JSON request a
line on stdin, ``{"argv": [...], "env": {...}}``, runs the checker's ``main(argv)`` with exactly
that environment, as the checker's own process would have it, and answers one JSON line on
stdout, ``{"code": N, "stdout": "...", "stderr": "..."}``. The checker is imported at the first
request, under that request's environment (LiteLLM reads some of it on import). What LiteLLM's
own log handlers write goes to this process's stderr.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import runpy
import sys
from collections.abc import Callable
from pathlib import Path
from typing import cast


def serve(checker: Path) -> None:
    answers = sys.stdout
    main: Callable[[list[str]], int] | None = None
    for line in sys.stdin:
        request = json.loads(line)
        os.environ.clear()
        os.environ.update(request["env"])
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            if main is None:
                # As when the checker runs as a script: its folder first on the path.
                sys.path[0] = str(checker.parent)
                found = runpy.run_path(str(checker), run_name="check_litellm_config")
                main = cast("Callable[[list[str]], int]", found["main"])
            else:  # what the checker sets on import, for every later request too
                os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
            code = main(request["argv"])
        answer = {"code": code, "stdout": out.getvalue(), "stderr": err.getvalue()}
        answers.write(json.dumps(answer) + "\n")
        answers.flush()


if __name__ == "__main__":
    serve(Path(sys.argv[1]))
