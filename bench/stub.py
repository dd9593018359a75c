"""A fast OpenAI-compatible stub upstream, for benchmarks only (standard library, no deps).

Answers every ``POST /v1/chat/completions`` at once with one fixed short completion, so what a
benchmark measures in front of it is the gateway, not a model; with ``--serial-ms N``, one at
a time, N ms each, as a server with one slot does (the replica benchmark). Runs on a lab host
under the host's own ``/usr/bin/python3``: ``python3 stub.py --host 0.0.0.0 --port 8190``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

MODEL = "bench-stub"


def completion_body() -> bytes:
    return json.dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": MODEL,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "ok"},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
        }
    ).encode()


def response(status: str, body: bytes) -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n"
    )
    return head.encode() + body


MODELS = json.dumps({"object": "list", "data": [{"id": MODEL, "object": "model"}]}).encode()


#: With ``--serial-ms``: one completion at a time, each taking that long (a one-slot server).
SERIAL: tuple[asyncio.Lock, float] | None = None


async def completion() -> bytes:
    if SERIAL is not None:
        lock, seconds = SERIAL
        async with lock:
            await asyncio.sleep(seconds)
    return response("200 OK", completion_body())


async def serve_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            if length:
                await reader.readexactly(length)
            if method == "POST" and path.rstrip("/").endswith("/chat/completions"):
                writer.write(await completion())
            elif method == "GET" and path.rstrip("/").endswith("/models"):
                writer.write(response("200 OK", MODELS))
            elif method == "GET" and path == "/health":
                writer.write(response("200 OK", b'{"status": "ok"}'))
            else:
                writer.write(response("404 Not Found", b'{"error": "not found"}'))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, ValueError):
        pass
    finally:
        writer.close()


async def main(host: str, port: int, serial_ms: float) -> None:
    global SERIAL
    if serial_ms > 0:
        SERIAL = (asyncio.Lock(), serial_ms / 1000)
    server = await asyncio.start_server(serve_client, host, port, backlog=256)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8190)
    parser.add_argument(
        "--serial-ms", type=float, default=0, help="serve one completion at a time, this long"
    )
    args = parser.parse_args()
    asyncio.run(main(args.host, args.port, args.serial_ms))
