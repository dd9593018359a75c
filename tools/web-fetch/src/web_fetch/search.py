"""search.web: the gateway's search endpoint, with the gateway key, cut to what was asked."""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import BaseModel

from web_fetch.config import SEARCH_URL_ENV, USER_AGENT, ConfigError, Settings


class SearchError(Exception):
    """A search that could not be made or answered; the message says why."""


class Hit(BaseModel):
    title: str
    url: str
    snippet: str


class SearchResults(BaseModel):
    query: str
    results: list[Hit]


def search(query: str, max_results: int, settings: Settings) -> SearchResults:
    if not query.strip():
        raise SearchError("empty query")
    if settings.search_url is None:
        raise SearchError(f"search is not configured: {SEARCH_URL_ENV} is not set")
    try:
        key = settings.proxy_key()
    except ConfigError as error:
        raise SearchError(str(error)) from None
    try:
        response = httpx.post(
            settings.search_url,
            json={"query": query, "max_results": max_results},
            headers={"Authorization": f"Bearer {key}", "User-Agent": USER_AGENT},
            timeout=settings.timeout,
            trust_env=False,
        )
    except httpx.HTTPError as error:
        raise SearchError(f"cannot reach the gateway at {settings.search_url}: {error}") from None
    if not response.is_success:
        raise SearchError(
            f"the gateway's search answered HTTP {response.status_code}: {response.text[:200]}"
        )
    try:
        results = response.json()["results"]
    except (ValueError, KeyError, TypeError):
        raise SearchError(
            f"the gateway's search answered no results list: {response.text[:200]}"
        ) from None
    hits = [_hit(item) for item in results if isinstance(item, dict) and item.get("url")]
    # The gateway returns as many results as its backend gives, whatever was asked.
    return SearchResults(query=query, results=hits[:max_results])


def _hit(item: dict[str, Any]) -> Hit:
    return Hit(
        title=str(item.get("title") or ""),
        url=str(item["url"]),
        snippet=str(item.get("snippet") or item.get("content") or ""),
    )
