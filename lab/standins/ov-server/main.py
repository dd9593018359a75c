"""A minimal stand-in for ov-server, the operator's own OpenVINO FastAPI app.

No registry carries ov-server, so the lab runs this in its place, through the same deploy
path (its own user, venv, env file and unit). It serves the documented API: ``/health``,
``/v1/models`` (the models of ``OV_REGISTRY_PATH``) and ``/v1/chat/completions``, answering
with a short deterministic text instead of running a model.

Like the real server, which loads a model (and compiles it for its device) at the model's first
request, it takes ``OV_STANDIN_LOAD_SECONDS`` (its unit sets it) to answer a model's first
request after it starts: what a warm-up profile spares the first user.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException

app = FastAPI(title="ov-server (lab stand-in)")

#: Seconds a model's first request takes (its load); later ones answer at once.
LOAD_SECONDS = float(os.environ.get("OV_STANDIN_LOAD_SECONDS", "0"))
_loaded: set[str] = set()
_locks: dict[str, threading.Lock] = {}
_locks_lock = threading.Lock()


def load(model: str) -> None:
    """The model, loaded once: its first request waits for the load, the rest do not (nor do
    requests for a model already loaded while another loads)."""
    with _locks_lock:
        lock = _locks.setdefault(model, threading.Lock())
    with lock:
        if model not in _loaded:
            time.sleep(LOAD_SECONDS)
            _loaded.add(model)


def registry() -> dict[str, Any]:
    models: dict[str, Any] = json.loads(Path(os.environ["OV_REGISTRY_PATH"]).read_text())["models"]
    return models


@app.get("/health")
def health() -> dict[str, Any]:
    return {"status": "ok", "device": os.environ.get("OV_DEVICE", "CPU"), "standin": True}


@app.get("/v1/models")
def models() -> dict[str, Any]:
    return {
        "object": "list",
        "data": [{"id": name, "object": "model", "owned_by": "ov-server"} for name in registry()],
    }


@app.post("/v1/chat/completions")
def chat(body: dict[str, Any]) -> dict[str, Any]:
    model = body.get("model", "")
    if model not in registry():
        raise HTTPException(status_code=404, detail=f"model {model!r} is not in the registry")
    load(model)
    messages = body.get("messages") or [{}]
    prompt = str(messages[-1].get("content", ""))
    text = f"ov-server stand-in ({model}) received {len(prompt.split())} words."
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": len(prompt.split()),
            "completion_tokens": len(text.split()),
            "total_tokens": len(prompt.split()) + len(text.split()),
        },
    }
