"""Fetching a page: http(s) only, guarded addresses, a deadline, a redirect limit, a size cap."""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx

from web_fetch.clean import kind_of_content
from web_fetch.config import MAX_BYTES_ENV, MAX_REDIRECTS_ENV, TIMEOUT_ENV, USER_AGENT, Settings
from web_fetch.guard import BlockedTarget, GuardedTransport, Policy

SCHEMES = ("http", "https")
ACCEPT = "text/html,application/xhtml+xml,text/plain;q=0.9,*/*;q=0.1"


class FetchError(Exception):
    """A fetch refused or failed; the message says why, in one line."""


@dataclass(frozen=True)
class Fetched:
    url: str  # where the last redirect led
    content_type: str  # the header as sent, charset included
    body: bytes


def checked_url(text: str) -> httpx.URL:
    try:
        url = httpx.URL(text)
    except httpx.InvalidURL as error:
        raise FetchError(f"not a URL: {text!r} ({error})") from None
    if url.scheme not in SCHEMES:
        scheme = url.scheme or "no scheme"
        raise FetchError(f"refused: {text!r} has {scheme}; only http and https are fetched")
    if not url.host:
        raise FetchError(f"not a URL: {text!r} has no host")
    return url


def fetch(text: str, settings: Settings) -> Fetched:
    """GET a page, following redirects by hand: each hop's URL and address are checked."""
    url = checked_url(text)
    deadline = time.monotonic() + settings.timeout
    transport = GuardedTransport(Policy(settings.allow_networks))
    headers = {"User-Agent": USER_AGENT, "Accept": ACCEPT}
    with httpx.Client(transport=transport, headers=headers, trust_env=False) as client:
        for _hop in range(settings.max_redirects + 1):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _timed_out(text, settings)
            try:
                with client.stream("GET", url, timeout=remaining) as response:
                    if response.is_redirect:
                        target = response.url.join(response.headers["location"])
                        try:
                            url = checked_url(str(target))
                        except FetchError as error:
                            raise FetchError(f"{error} (a redirect from {url})") from None
                        continue
                    return _read(response, settings, deadline)
            except httpx.TimeoutException:
                raise _timed_out(text, settings) from None
            except BlockedTarget as error:
                raise FetchError(str(error)) from None
            except httpx.HTTPError as error:
                raise FetchError(f"cannot fetch {url}: {error}") from None
    raise FetchError(
        f"refused: {text} redirects more than {settings.max_redirects} times ({MAX_REDIRECTS_ENV})"
    )


def _read(response: httpx.Response, settings: Settings, deadline: float) -> Fetched:
    url = str(response.url)
    if not response.is_success:
        raise FetchError(f"{url} answered HTTP {response.status_code} {response.reason_phrase}")
    content_type = response.headers.get("content-type", "")
    if kind_of_content(content_type) is None:
        shown = content_type.split(";")[0].strip() or "no content type"
        raise FetchError(f"refused: {url} is {shown}; only HTML and plain text are cleaned")
    cap = settings.max_bytes
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise _too_large(url, int(declared), cap)
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > cap:
            raise _too_large(url, None, cap)
        if time.monotonic() > deadline:
            raise httpx.ReadTimeout("deadline passed while reading the body")
        chunks.append(chunk)
    return Fetched(url=url, content_type=content_type, body=b"".join(chunks))


def _too_large(url: str, declared: int | None, cap: int) -> FetchError:
    size = f"{declared} bytes, " if declared is not None else ""
    return FetchError(f"refused: {url} is {size}over the cap of {cap} bytes ({MAX_BYTES_ENV})")


def _timed_out(url: str, settings: Settings) -> FetchError:
    return FetchError(f"timed out: {url} took more than {settings.timeout:g} s ({TIMEOUT_ENV})")
