"""The web-fetch MCP tool (tools/web-fetch): extraction on stored pages, every refusal, and the
server spoken to over MCP stdio with the SDK's client.

Pages come from a threaded HTTP server on 127.0.0.1; loopback is a refused target by default,
so the tests that fetch allow 127.0.0.1/32 as a homelab allows its LAN. The 2 MB page is
generated (bench/web_fetch.py's generator): under the default cap (5 MiB) it is cleaned; with a
cap below its size it is refused, whether or not the server says its length.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio
import httpcore
import pytest
import trafilatura
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.shared.tool_name_validation import ToolNameValidationResult, validate_tool_name
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from web_fetch import guard
from web_fetch.clean import FALLBACK_MIN_CHARS, NoContent, clean, extract
from web_fetch.config import (
    ALLOW_NETWORKS_ENV,
    DEFAULT_MAX_BYTES,
    ENV_FILE_ENV,
    MAX_BYTES_ENV,
    PROXY_KEY_ENV,
    SEARCH_URL_ENV,
    TIMEOUT_ENV,
    ConfigError,
    Settings,
    parse_networks,
)
from web_fetch.fetch import FetchError
from web_fetch.names import FETCH_TOOL, SEARCH_TOOL
from web_fetch.search import SearchError, search
from web_fetch.server import Page, fetch_page

from bench.web_fetch import page_of

PAGES = Path(__file__).parent / "pages"
LOOPBACK_ONLY = parse_networks("127.0.0.1/32")
LAB_SUBNET = "10.213.7.0/24"
TWO_MB = 2 * 1000 * 1000
SLOW = 3.0  # seconds the slow routes take; the tests' timeout is well under it
SHORT_TIMEOUT = 0.5
GATEWAY_RESULTS = 10  # the gateway answers this many whatever it is asked
KEY = "sk-test-web-fetch"

# What the article's frame says (navigation, sidebar, footer), none of it main text.
ARTICLE_FRAME = (
    "Subscribe to the newsletter",
    "Sign in to your account",
    "Most read this week",
    "Advertise with the Harbour Gazette",
    "All rights reserved",
    "Contact the newsroom",
    "window.analytics",
)


# --- the local web server ------------------------------------------------------------------


def _html(name: str) -> tuple[bytes, str]:
    body = (PAGES / name).read_bytes()
    # shift_jis.html declares its charset only in the header; windows-1252.html only in <meta>.
    charset = "; charset=shift_jis" if name == "shift_jis.html" else ""
    return body, f"text/html{charset}"


class Handler(BaseHTTPRequestHandler):
    server: Site

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        path, query = parts.path, parse_qs(parts.query)
        if path.startswith("/pages/"):
            self._send(*_html(path.removeprefix("/pages/")))
        elif path == "/big":
            self._send(page_of(TWO_MB), "text/html; charset=utf-8")
        elif path == "/big-unsized":
            self._send(page_of(TWO_MB), "text/html; charset=utf-8", sized=False)
        elif path == "/notes.txt":
            self._send(b"Tide tables:\n  high water 06:12\n\n\n\nlow 12:30\n", "text/plain")
        elif path == "/report.pdf":
            self._send(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "application/pdf")
        elif path == "/missing":
            self._send(b"<html><body><p>Not here.</p></body></html>", "text/html", status=404)
        elif path == "/slow":
            time.sleep(SLOW)
            self._send(*_html("article.html"))
        elif path == "/drip":
            self._drip()
        elif path == "/loop":
            self._redirect("/loop")
        elif path.startswith("/hops/"):
            left = int(path.removeprefix("/hops/"))
            self._redirect(f"/hops/{left - 1}" if left > 0 else "/pages/article.html")
        elif path == "/redirect":
            self._redirect(query["to"][0])
        else:
            self._send(b"no such page", "text/plain", status=404)

    def _send(self, body: bytes, content_type: str, status: int = 200, sized: bool = True) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if sized:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(OSError):  # the client may hang up once it has seen enough
            self.wfile.write(body)

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _drip(self) -> None:
        """A page whose bytes come one at a time: each read is quick, the whole is not."""
        body = b"<html><body><p>" + b"x" * 30 + b"</p></body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(OSError):
            for byte in body:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(SLOW / len(body))


class Site(ThreadingHTTPServer):
    daemon_threads = True

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.server_address[1]}{path}"


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    server = Site(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture()
def allowed() -> Settings:
    """The defaults, with loopback allowed (where the test pages are served)."""
    return Settings(allow_networks=LOOPBACK_ONLY)


@pytest.fixture()
def no_connections(monkeypatch: pytest.MonkeyPatch) -> None:
    """No socket is opened: a refusal must come before any connection (and a test of one
    never reaches out, even if the guard were gone)."""

    def connect_tcp(self: httpcore.SyncBackend, host: str, port: int, *_: object) -> None:
        raise AssertionError(f"a connection to {host}:{port} was attempted")

    monkeypatch.setattr(httpcore.SyncBackend, "connect_tcp", connect_tcp)


def refused(url: str, settings: Settings) -> str:
    with pytest.raises(FetchError) as caught:
        fetch_page(url, settings)
    message = str(caught.value)
    assert "\n" not in message, message
    return message


# --- extraction ----------------------------------------------------------------------------


def test_article_comes_without_its_frame(site: Site, allowed: Settings) -> None:
    page = fetch_page(site.url("/pages/article.html"), allowed)
    assert page.title == "The keepers of Skerryvore | Harbour Gazette"
    assert page.url == site.url("/pages/article.html")
    assert page.extractor == "trafilatura"
    assert "rises 48 metres above the rock" in " ".join(page.text.split())
    assert "A life measured in watches" in page.text
    assert "taking the logs and the brass barometer with them" in page.text
    for frame in ARTICLE_FRAME:
        assert frame not in page.text, frame
    assert page.html is None


def test_raw_html_only_when_asked(site: Site, allowed: Settings) -> None:
    page = fetch_page(site.url("/pages/article.html"), allowed, include_html=True)
    assert page.html == (PAGES / "article.html").read_text()
    assert "Subscribe to the newsletter" in page.html  # the page as it was, frame and all


def test_docs_page_keeps_code_and_table_drops_sidebar(site: Site, allowed: Settings) -> None:
    page = fetch_page(site.url("/pages/docs.html"), allowed)
    assert page.title == "Configuring retries — Tidewater 2.4 documentation"
    assert "# Configuring retries" in page.text
    assert "## Giving up" in page.text
    code = 'queue = Queue("orders", retry=Backoff(base_delay=2, max_delay=300, attempts=8))'
    assert code in page.text
    assert "orders.dead" in page.text
    assert "attempts | 5" in page.text  # the table, as a markdown table
    for frame in ("Installation guide", "Search the docs", "Source code on the forge", "Next:"):
        assert frame not in page.text, frame


def test_page_of_only_boilerplate_has_no_main_text(site: Site, allowed: Settings) -> None:
    with pytest.raises(NoContent, match=r"no main text found on the page: http://127\.0\.0\.1"):
        fetch_page(site.url("/pages/boilerplate.html"), allowed)


def test_windows_1252_page_decoded_from_its_meta_charset(site: Site, allowed: Settings) -> None:
    page = fetch_page(site.url("/pages/windows-1252.html"), allowed)
    assert page.content_type == "text/html"  # no charset in the header
    assert page.title == "Le café du port"
    assert "sert un crème à 2,50 € et raconte, à qui veut l’entendre" in page.text  # noqa: RUF001
    assert "« Une nuit pareille, on n’en voit qu’une par" in page.text  # noqa: RUF001
    assert "Plan du site" not in page.text and "Mentions légales" not in page.text


def test_shift_jis_page_decoded_from_its_header_charset(site: Site, allowed: Settings) -> None:
    page = fetch_page(site.url("/pages/shift_jis.html"), allowed)
    assert page.title == "灯台守の記録"
    assert "岬の灯台には、かつて三人の灯台守が交代で暮らしていた。" in page.text
    assert "光は変わらず十五秒ごとに海を照らしている" in page.text
    assert "サイトマップ" not in page.text and "著作権" not in page.text


def test_two_megabyte_page_is_cleaned_under_the_default_cap(site: Site, allowed: Settings) -> None:
    assert TWO_MB < DEFAULT_MAX_BYTES
    page = fetch_page(site.url("/big"), allowed)
    assert page.extractor == "trafilatura"
    assert "Entry 0: the keepers wound the clockwork" in page.text
    last = page_of(TWO_MB).decode().rsplit("<p>Entry ", 1)[1].split(":")[0]
    assert f"Entry {last}: the keepers" in page.text  # to the last paragraph
    assert "Subscribe to the newsletter" not in page.text and "Most read" not in page.text


def test_plain_text_passes_through(site: Site, allowed: Settings) -> None:
    page = fetch_page(site.url("/notes.txt"), allowed)
    assert page.extractor == "plain" and page.title is None
    assert page.text == "Tide tables:\nhigh water 06:12\n\nlow 12:30"


def test_readability_takes_over_when_trafilatura_finds_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(trafilatura, "extract", lambda *a, **k: None)
    cleaned = extract((PAGES / "article.html").read_text())
    assert cleaned.extractor == "readability"
    assert "The keepers divided the night into watches of four hours." in " ".join(
        cleaned.text.split()
    )
    for frame in ARTICLE_FRAME:
        assert frame not in cleaned.text, frame
    # and on the page of only boilerplate it finds less than a page's worth: nothing
    with pytest.raises(NoContent):
        extract((PAGES / "boilerplate.html").read_text())
    assert len("We use cookies.") < FALLBACK_MIN_CHARS


def test_clean_decodes_undeclared_utf8_and_a_bom() -> None:
    text = "<html><body><article><p>Smørrebrød på Skagen, søndag.</p></article></body></html>"
    assert "Smørrebrød på Skagen" in clean(text.encode(), "text/html", "http://x.invalid/").text
    bom = "\ufeffÅbent hus".encode("utf-16-le")
    assert clean(b"\xff\xfe" + bom[2:], "text/plain", "http://x.invalid/").text == "Åbent hus"


# --- refusals ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["file:///etc/passwd", "ftp://127.0.0.1/pub/", "gopher://127.0.0.1/", "javascript:alert(1)"],
)
def test_refuses_other_schemes(url: str, allowed: Settings) -> None:
    assert "only http and https are fetched" in refused(url, allowed)


def test_refuses_what_is_not_a_url(allowed: Settings) -> None:
    assert refused("no scheme here", allowed).startswith("refused: 'no scheme here' has no scheme")
    assert "has no host" in refused("http:///path-only", allowed)


def test_refuses_a_redirect_to_another_scheme(site: Site, allowed: Settings) -> None:
    message = refused(site.url("/redirect?to=file:///etc/passwd"), allowed)
    assert "only http and https are fetched (a redirect from http://127.0.0.1" in message


def test_refuses_a_body_over_the_cap_by_its_length(site: Site) -> None:
    settings = Settings(allow_networks=LOOPBACK_ONLY, max_bytes=1_000_000)
    message = refused(site.url("/big"), settings)
    size = len(page_of(TWO_MB))
    assert message == (
        f"refused: {site.url('/big')} is {size} bytes, over the cap of 1000000 bytes "
        f"({MAX_BYTES_ENV})"
    )


def test_refuses_a_body_over_the_cap_while_reading(site: Site) -> None:
    settings = Settings(allow_networks=LOOPBACK_ONLY, max_bytes=1_000_000)
    message = refused(site.url("/big-unsized"), settings)
    assert message == (
        f"refused: {site.url('/big-unsized')} is over the cap of 1000000 bytes ({MAX_BYTES_ENV})"
    )


def test_refuses_a_slow_answer(site: Site) -> None:
    settings = Settings(allow_networks=LOOPBACK_ONLY, timeout=SHORT_TIMEOUT)
    start = time.monotonic()
    message = refused(site.url("/slow"), settings)
    assert time.monotonic() - start < SLOW
    assert message == f"timed out: {site.url('/slow')} took more than 0.5 s ({TIMEOUT_ENV})"


def test_refuses_a_body_that_outlasts_the_deadline(site: Site) -> None:
    """Each byte comes quickly, so only a deadline on the whole fetch stops it."""
    settings = Settings(allow_networks=LOOPBACK_ONLY, timeout=SHORT_TIMEOUT)
    start = time.monotonic()
    assert refused(site.url("/drip"), settings).startswith("timed out:")
    assert time.monotonic() - start < SLOW


def test_follows_redirects_up_to_the_limit(site: Site, allowed: Settings) -> None:
    page = fetch_page(site.url(f"/hops/{allowed.max_redirects - 1}"), allowed)
    assert page.url == site.url("/pages/article.html")
    assert "The keepers of Skerryvore" in page.text


def test_refuses_too_many_redirects(site: Site, allowed: Settings) -> None:
    assert refused(site.url("/loop"), allowed) == (
        f"refused: {site.url('/loop')} redirects more than 5 times (WEB_FETCH_MAX_REDIRECTS)"
    )
    assert "redirects more than 5 times" in refused(
        site.url(f"/hops/{allowed.max_redirects}"), allowed
    )


@pytest.mark.parametrize("path", ["/report.pdf"])
def test_refuses_content_it_cannot_clean(site: Site, allowed: Settings, path: str) -> None:
    assert refused(site.url(path), allowed) == (
        f"refused: {site.url(path)} is application/pdf; only HTML and plain text are cleaned"
    )


def test_says_an_http_error(site: Site, allowed: Settings) -> None:
    assert (
        refused(site.url("/missing"), allowed)
        == f"{site.url('/missing')} answered HTTP 404 Not Found"
    )


def test_refuses_loopback_by_default(site: Site) -> None:
    message = refused(site.url("/pages/article.html"), Settings())
    assert message == (
        f"refused: 127.0.0.1 is a loopback address; allow its network in {ALLOW_NETWORKS_ENV} "
        "to fetch it"
    )


def test_refuses_a_name_that_resolves_to_loopback(site: Site) -> None:
    message = refused(site.url("/pages/article.html", host="localhost"), Settings())
    assert message.startswith("refused: localhost (") and "is a loopback address" in message


@pytest.mark.parametrize(
    ("host", "kind"),
    [
        ("[::1]", "loopback"),
        ("[::ffff:127.0.0.1]", "loopback"),
        ("169.254.169.254", "link-local"),
        ("[fe80::1]", "link-local"),
        ("10.213.7.11", "private"),
        ("172.16.5.4", "private"),
        ("[fd00::1]", "private"),
        ("0.0.0.0", "unspecified"),
        ("100.64.0.1", "non-public"),
    ],
)
@pytest.mark.usefixtures("no_connections")
def test_refuses_non_public_targets_before_connecting(host: str, kind: str) -> None:
    assert f"is a {kind} address" in refused(f"http://{host}:9/", Settings())


def test_rechecks_after_a_redirect(site: Site, allowed: Settings) -> None:
    """127.0.0.1 is allowed; a redirect from it to another loopback address is not."""
    message = refused(site.url("/redirect?to=http://127.0.0.2:9/"), allowed)
    assert message.startswith("refused: 127.0.0.2 is a loopback address")


@pytest.mark.usefixtures("no_connections")
def test_checks_every_address_of_a_name(monkeypatch: pytest.MonkeyPatch) -> None:
    def two_addresses(host: str, port: int, *_: object, **__: object) -> list[tuple[Any, ...]]:
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.7", port)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", two_addresses)
    message = refused("http://mixed.example/", Settings())
    assert message.startswith("refused: mixed.example (10.0.0.7) is a private address")


def test_allow_list_lets_the_lab_subnet_through() -> None:
    settings = Settings.from_env({ALLOW_NETWORKS_ENV: LAB_SUBNET})
    policy = guard.Policy(settings.allow_networks)
    assert policy.refusal(ipaddress.ip_address("10.213.7.11")) is None
    assert policy.refusal(ipaddress.ip_address("10.213.7.12")) is None
    assert policy.refusal(ipaddress.ip_address("10.213.8.11")) == "private"
    assert policy.refusal(ipaddress.ip_address("127.0.0.1")) == "loopback"
    assert guard.Policy().refusal(ipaddress.ip_address("10.213.7.11")) == "private"
    assert guard.Policy().refusal(ipaddress.ip_address("93.184.215.14")) is None


def test_allow_list_lets_loopback_through(site: Site) -> None:
    settings = Settings.from_env({ALLOW_NETWORKS_ENV: "10.213.7.0/24, 127.0.0.0/8"})
    assert "Skerryvore" in fetch_page(site.url("/pages/article.html"), settings).text


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {ALLOW_NETWORKS_ENV: "10.213.7.0/24,lan"},
            "WEB_FETCH_ALLOW_NETWORKS: 'lan' is not a CIDR",
        ),
        ({MAX_BYTES_ENV: "5MB"}, "WEB_FETCH_MAX_BYTES: '5MB' is not a number"),
        ({MAX_BYTES_ENV: "0"}, "WEB_FETCH_MAX_BYTES: 0 is below 1"),
        ({TIMEOUT_ENV: "-1"}, "WEB_FETCH_TIMEOUT: -1 is below 0.1"),
    ],
)
def test_bad_configuration_is_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(env)


def test_configuration_defaults_and_values() -> None:
    assert Settings.from_env({}) == Settings()
    settings = Settings.from_env(
        {MAX_BYTES_ENV: "1000", TIMEOUT_ENV: "2.5", "WEB_FETCH_MAX_REDIRECTS": "0"}
    )
    assert (settings.max_bytes, settings.timeout, settings.max_redirects) == (1000, 2.5, 0)


# --- search through the gateway ------------------------------------------------------------


@dataclass
class Gateway:
    """A stub of the gateway's search API: records each request, answers ten results."""

    server: ThreadingHTTPServer
    requests: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1/search/searxng-search"


@pytest.fixture(scope="module")
def gateway() -> Iterator[Gateway]:
    recorded: list[tuple[str, str, dict[str, Any]]] = []

    class SearchHandler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length))
            recorded.append((self.path, self.headers.get("Authorization", ""), body))
            if self.headers.get("Authorization") != f"Bearer {KEY}":
                self._answer(401, {"error": {"message": "Authentication Error"}})
                return
            results = [
                {
                    "title": f"{body['query']} result {n}",
                    "url": f"https://example.org/{n}",
                    "snippet": f"snippet {n}",
                    "date": None,
                }
                for n in range(GATEWAY_RESULTS)
            ]
            self._answer(200, {"object": "search", "results": results})

        def _answer(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), SearchHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield Gateway(server, recorded)
    server.shutdown()
    server.server_close()


def env_file(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "web-fetch.env"
    path.write_text(text)
    path.chmod(mode)
    return path


def test_search_sends_the_key_and_cuts_the_results(gateway: Gateway, tmp_path: Path) -> None:
    key_file = env_file(tmp_path, f"# the gateway key\n{PROXY_KEY_ENV}={KEY}\n")
    settings = Settings.from_env({SEARCH_URL_ENV: gateway.url, ENV_FILE_ENV: str(key_file)})
    found = search("lighthouse keepers", 3, settings)
    assert [hit.url for hit in found.results] == [f"https://example.org/{n}" for n in range(3)]
    assert found.results[0].title == "lighthouse keepers result 0"
    assert found.results[0].snippet == "snippet 0"
    assert gateway.requests[-1] == (
        "/v1/search/searxng-search",
        f"Bearer {KEY}",
        {"query": "lighthouse keepers", "max_results": 3},
    )


def test_search_key_from_the_environment(gateway: Gateway) -> None:
    settings = Settings.from_env({SEARCH_URL_ENV: gateway.url, PROXY_KEY_ENV: KEY})
    assert len(search("tides", 1, settings).results) == 1


def test_search_refuses_an_env_file_open_to_others(gateway: Gateway, tmp_path: Path) -> None:
    key_file = env_file(tmp_path, f"{PROXY_KEY_ENV}={KEY}\n", mode=0o644)
    settings = Settings.from_env({SEARCH_URL_ENV: gateway.url, ENV_FILE_ENV: str(key_file)})
    with pytest.raises(SearchError, match=r"is open to others \(mode 0644\); it must be 0600"):
        search("tides", 1, settings)


def test_search_says_when_the_gateway_is_not_there() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1/search/searxng-search"
    settings = Settings.from_env({SEARCH_URL_ENV: url, PROXY_KEY_ENV: KEY})
    with pytest.raises(SearchError, match=f"cannot reach the gateway at {url}"):
        search("tides", 1, settings)


def test_search_without_key_or_url_says_so(gateway: Gateway, tmp_path: Path) -> None:
    with pytest.raises(SearchError, match=f"{SEARCH_URL_ENV} is not set"):
        search("tides", 1, Settings.from_env({PROXY_KEY_ENV: KEY}))
    with pytest.raises(
        SearchError, match=f"no gateway key: neither the environment sets {PROXY_KEY_ENV}"
    ):
        search("tides", 1, Settings.from_env({SEARCH_URL_ENV: gateway.url}))
    wrong = Settings.from_env({SEARCH_URL_ENV: gateway.url, PROXY_KEY_ENV: "sk-wrong"})
    with pytest.raises(SearchError, match="answered HTTP 401"):
        search("tides", 1, wrong)


# --- the MCP server over stdio -------------------------------------------------------------


def _text(result: Any) -> str:
    return "".join(getattr(block, "text", "") for block in result.content)


async def _session_calls(params: StdioServerParameters, page_url: str) -> dict[str, Any]:
    with open(os.devnull, "w") as quiet:
        async with (
            stdio_client(params, errlog=quiet) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            tools = await session.list_tools()
            out: dict[str, Any] = {"tools": {tool.name: tool for tool in tools.tools}}
            out["bad"] = await session.call_tool(FETCH_TOOL, {"url": "file:///etc/passwd"})
            out["private"] = await session.call_tool(
                FETCH_TOOL, {"url": "http://169.254.169.254/latest/meta-data/"}
            )
            out["fetch"] = await session.call_tool(FETCH_TOOL, {"url": page_url})
            out["search"] = await session.call_tool(
                SEARCH_TOOL, {"query": "lighthouse keepers", "max_results": 3}
            )
            out["too_many"] = await session.call_tool(
                SEARCH_TOOL, {"query": "x", "max_results": 500}
            )
            return out


def test_dotted_tool_names_are_valid_mcp_names() -> None:
    for name in (FETCH_TOOL, SEARCH_TOOL):
        assert validate_tool_name(name) == ToolNameValidationResult(is_valid=True, warnings=[])


COMMAND = Path(sys.executable).parent / "web-fetch"  # the package's console script


def test_the_server_stops_at_once_on_bad_configuration() -> None:
    run = subprocess.run(
        [str(COMMAND)],
        env={**os.environ, ALLOW_NETWORKS_ENV: "lan"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 1
    assert run.stderr == f"web-fetch: {ALLOW_NETWORKS_ENV}: 'lan' is not a CIDR network\n"


def test_the_server_over_mcp_stdio(site: Site, gateway: Gateway, tmp_path: Path) -> None:
    key_file = env_file(tmp_path, f"{PROXY_KEY_ENV}={KEY}\n")
    params = StdioServerParameters(
        command=str(COMMAND),
        env={
            ALLOW_NETWORKS_ENV: "127.0.0.1/32",
            SEARCH_URL_ENV: gateway.url,
            ENV_FILE_ENV: str(key_file),
        },
    )
    out = anyio.run(_session_calls, params, site.url("/pages/article.html"))

    assert set(out["tools"]) == {FETCH_TOOL, SEARCH_TOOL}
    fetch_schema = out["tools"][FETCH_TOOL].input_schema
    assert fetch_schema["required"] == ["url"] and "include_html" in fetch_schema["properties"]

    # refusals come back as tool errors, and the server goes on answering
    assert out["bad"].is_error and "only http and https are fetched" in _text(out["bad"])
    assert out["private"].is_error
    assert "169.254.169.254 is a link-local address" in _text(out["private"])

    fetched = out["fetch"]
    assert not fetched.is_error, _text(fetched)
    page = Page.model_validate(fetched.structured_content)
    assert page.url == site.url("/pages/article.html")
    assert page.title == "The keepers of Skerryvore | Harbour Gazette"
    assert "Each man wound the clockwork" in page.text and "Sign in" not in page.text
    assert json.loads(_text(fetched))["text"] == page.text  # the same, as text content

    searched = out["search"]
    assert not searched.is_error, _text(searched)
    results = searched.structured_content["results"]
    assert len(results) == 3 < GATEWAY_RESULTS
    assert results[0] == {
        "title": "lighthouse keepers result 0",
        "url": "https://example.org/0",
        "snippet": "snippet 0",
    }
    _path, authorization, body = gateway.requests[-1]
    assert authorization == f"Bearer {KEY}"
    assert body == {"query": "lighthouse keepers", "max_results": 3}

    assert out["too_many"].is_error and "max_results" in _text(out["too_many"])


# --- its lock (a `homelab lock` lock: tests/fast/test_locks.py says it is current) ----------


def test_lock_pins_every_dependency_and_the_tests_run_those_versions() -> None:
    from homelab.load import DEFAULT_INVENTORY, load_platform  # pyinfra: imported when needed
    from homelab.locks import lock_for_tool

    lock = lock_for_tool(load_platform(DEFAULT_INVENTORY), "mini", "web-fetch")
    text = lock.path.read_text()
    pins = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", text, re.M))
    pins = {canonicalize_name(name): version for name, version in pins.items()}
    assert lock.requirements
    for line in lock.requirements:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{lock.path.name} does not pin {name}"
        assert requirement.specifier.contains(pins[name]), (line, pins[name])
        assert metadata.version(name) == pins[name], f"the dev environment has another {name}"
