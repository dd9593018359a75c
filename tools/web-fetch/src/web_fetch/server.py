"""The MCP stdio server: ``web.fetch`` and ``search.web`` on the MCP SDK's MCPServer."""

from __future__ import annotations

import sys
from typing import Annotated

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, Field

from web_fetch.clean import NoContent, clean, decode
from web_fetch.config import ConfigError, Settings
from web_fetch.fetch import FetchError, fetch
from web_fetch.names import FETCH_TOOL, NAME, SEARCH_TOOL
from web_fetch.search import SearchError, SearchResults, search

MAX_SEARCH_RESULTS = 20


class Page(BaseModel):
    title: str | None
    url: str = Field(description="the final URL, after redirects")
    content_type: str
    extractor: str = Field(description="trafilatura, readability (its fallback) or plain")
    text: str
    html: str | None = Field(default=None, description="the page as fetched, when asked")


def fetch_page(url: str, settings: Settings, include_html: bool = False) -> Page:
    """Fetch and clean one page; raises FetchError or NoContent with a one-line reason."""
    fetched = fetch(url, settings)
    try:
        cleaned = clean(fetched.body, fetched.content_type, fetched.url)
    except NoContent as error:
        raise NoContent(f"{error}: {fetched.url}") from None
    html = decode(fetched.body, fetched.content_type) if include_html else None
    return Page(
        title=cleaned.title,
        url=fetched.url,
        content_type=fetched.content_type,
        extractor=cleaned.extractor,
        text=cleaned.text,
        html=html,
    )


def build_server(settings: Settings) -> MCPServer:
    server = MCPServer(
        name=NAME,
        instructions=(
            f"{FETCH_TOOL} returns a web page's main text (title, final URL, text); "
            f"{SEARCH_TOOL} searches the web through the gateway."
        ),
    )

    @server.tool(
        name=FETCH_TOOL,
        description=(
            "Fetch an http(s) URL and return its main text, clean and ready for a model: "
            "title, final URL after redirects, text (navigation, headers, footers dropped). "
            "Plain text comes back as it is; other content types are refused."
        ),
    )
    def web_fetch(
        url: Annotated[str, Field(description="an http:// or https:// URL")],
        include_html: Annotated[bool, Field(description="also return the raw HTML")] = False,
    ) -> Page:
        try:
            return fetch_page(url, settings, include_html)
        except (FetchError, NoContent) as error:
            raise ToolError(str(error)) from None

    @server.tool(
        name=SEARCH_TOOL,
        description="Search the web through the gateway: title, URL and snippet per result.",
    )
    def search_web(
        query: Annotated[str, Field(description="what to search for")],
        max_results: Annotated[
            int, Field(ge=1, le=MAX_SEARCH_RESULTS, description="results wanted, at most")
        ] = 5,
    ) -> SearchResults:
        try:
            return search(query, max_results, settings)
        except SearchError as error:
            raise ToolError(str(error)) from None

    return server


def main() -> None:
    try:
        settings = Settings.from_env()
    except ConfigError as error:
        sys.exit(f"{NAME}: {error}")
    build_server(settings).run("stdio")
