"""Warm a server's models up, on its host: one short chat request each, so they are loaded.

Run by the deploy with the host's own Python (the standard library only): one argument, a JSON
plan (url, health, models as [handle, upstream name], profile, record, instance, wait_s,
timeout_s). It waits for the server's health endpoint, asks each model in turn, and writes the
record (atomically: verify and ``homelab status`` read it) with each model's first-answer
seconds and the server's start it warmed (``instance``'s output). One line per model on
stdout. Exit 1 when a model did not answer, naming it and why; the record says so too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from typing import Any

#: What each model is asked: the least a server must load the model for.
PROMPT = "warm up"


def healthy(url: str, wait_s: float) -> str | None:
    """None once ``url`` answers 2xx; else why not, after ``wait_s`` seconds."""
    deadline = time.monotonic() + wait_s
    why = "not asked"
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if 200 <= response.status < 300:
                    return None
                why = f"HTTP {response.status}"
        except (urllib.error.URLError, OSError) as exc:
            why = str(exc)
        if time.monotonic() >= deadline:
            return f"{url} did not answer within {wait_s:.0f} s ({why})"
        time.sleep(1)


def ask(base: str, model: str, timeout_s: float) -> tuple[float, str | None]:
    """(seconds to the answer, None) or (seconds, why it failed)."""
    body = {
        "model": model,
        "messages": [{"role": "user", "content": PROMPT}],
        "max_tokens": 1,
        "stream": False,
    }
    request = urllib.request.Request(
        f"{base}/v1/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    start = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            answer = json.loads(response.read())
        seconds = time.monotonic() - start
        if not answer.get("choices"):
            return seconds, f"no choices in the answer: {str(answer)[:200]}"
        return seconds, None
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")[:200]
        return time.monotonic() - start, f"HTTP {exc.code}: {detail}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return time.monotonic() - start, str(exc)


def instance(command: str) -> str:
    """What names the server's running start (the init system's answer)."""
    done = subprocess.run(command, shell=True, capture_output=True, text=True, check=False)
    return done.stdout.strip()


def write(path: str, record: dict[str, Any]) -> None:
    folder = os.path.dirname(path)
    with tempfile.NamedTemporaryFile("w", dir=folder, delete=False, suffix=".tmp") as f:
        json.dump(record, f, indent=2, sort_keys=True)
        f.write("\n")
    os.chmod(f.name, 0o644)
    os.replace(f.name, path)


def main(plan: dict[str, Any]) -> int:
    models: dict[str, dict[str, Any]] = {}
    why = healthy(plan["health"], float(plan["wait_s"]))
    for handle, upstream in plan["models"]:
        if why is not None:
            models[handle] = {"upstream": upstream, "seconds": None, "error": why}
            continue
        seconds, error = ask(plan["url"], upstream, float(plan["timeout_s"]))
        models[handle] = {"upstream": upstream, "seconds": round(seconds, 3), "error": error}
    record = {
        "profile": plan["profile"],
        "instance": instance(plan["instance"]),
        "at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "models": models,
    }
    write(plan["record"], record)
    failed = 0
    for handle, result in models.items():
        if result["error"] is None:
            print(f"warmed {handle} ({plan['profile']}): first answer in {result['seconds']} s")
        else:
            failed += 1
            print(f"{handle} ({plan['profile']}) did not warm up: {result['error']}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(json.loads(sys.argv[1])))
