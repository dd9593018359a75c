"""An MCP client that runs on a host, in an MCP tool's own venv (the SDK is there).

``python mcp_client.py SPEC``: SPEC is JSON, ``{"command", "args", "env", "page", "address",
"calls": [[tool, arguments], ...]}``. It serves ``page`` (HTML) on ``address`` at a port the
kernel picks, for as long as it runs; starts the server over stdio with exactly ``command``,
``args`` and ``env`` (the SDK adds only its default variables: HOME, PATH, ...); lists the
tools; makes each call, ``{page}`` in an argument standing for the page's URL; and prints
``{"page_url", "tools", "calls": [{"tool", "is_error", "text", "structured"}]}`` as JSON.
"""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import anyio
from mcp import ClientSession, StdioServerParameters, stdio_client


def serve(address: str, page: str) -> tuple[ThreadingHTTPServer, str]:
    body = page.encode()

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((address, 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://{address}:{server.server_address[1]}/article.html"


async def session(spec: dict[str, Any], page_url: str) -> dict[str, Any]:
    params = StdioServerParameters(command=spec["command"], args=spec["args"], env=spec["env"])
    async with (
        stdio_client(params) as (read, write),
        ClientSession(read, write) as client,
    ):
        await client.initialize()
        listed = await client.list_tools()
        calls = []
        for tool, arguments in spec["calls"]:
            filled = {
                k: v.replace("{page}", page_url) if isinstance(v, str) else v
                for k, v in arguments.items()
            }
            result = await client.call_tool(tool, filled)
            calls.append(
                {
                    "tool": tool,
                    "is_error": bool(result.is_error),
                    "text": "".join(getattr(block, "text", "") for block in result.content),
                    "structured": result.structured_content,
                }
            )
        return {"page_url": page_url, "tools": [t.name for t in listed.tools], "calls": calls}


def main() -> None:
    spec = json.loads(sys.argv[1])
    server, page_url = serve(spec["address"], spec["page"])
    try:
        print(json.dumps(anyio.run(session, spec, page_url)))
    finally:
        server.shutdown()


if __name__ == "__main__":
    main()
