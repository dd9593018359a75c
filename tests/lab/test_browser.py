"""Open WebUI in a real browser: Debian's chromium, headless, driven by selenium through Debian's
chromium-driver (nothing downloaded). Signs in as the admin, picks an ``mlx-*`` handle, sends a
message and sees the answer; turns web search on and sees the sources the gateway's search
found. Saves a screenshot to ``docs/open-webui.png`` (shown in the README).

The lab's MLX models have random weights: their answers are noise, and they cannot write a
search query. For the web-search part the admin's task setting "search query generation" is
off (the user's message is the query), and the chat's function calling is Legacy (the model
cannot call the search tool itself): both restored or deleted after.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from homelab import PROJECT_ROOT
from homelab.backup import webui_host
from homelab.console.connect import connected
from homelab.load import load_platform
from homelab.model import Backend, Platform
from homelab.services.litellm import gateway_host, search_url
from homelab.services.open_webui import SERVICE as OPEN_WEBUI
from tests.lab.conftest import LAB_INVENTORY

pytestmark = pytest.mark.lab

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
DEBIAN_PACKAGES = ("chromium", "chromium-driver")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,720",
)
SCREENSHOT = PROJECT_ROOT / "docs" / "open-webui.png"
#: A query the lab's search (Debian's package names) has results for.
QUERY = "curl"
WAIT = 90


def _ensure_chromium() -> None:
    if Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists():
        return
    if shutil.which("apt-get") is None:
        pytest.skip("Debian's chromium is needed (apt-get install chromium chromium-driver)")
    done = subprocess.run(
        ["apt-get", "install", "-y", "--no-install-recommends", *DEBIAN_PACKAGES],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.fixture(scope="module")
def platform(lab: dict[str, Any]) -> Platform:
    return load_platform(LAB_INVENTORY)


@pytest.fixture(scope="module")
def gateway_results(webui: dict[str, str]) -> list[str]:
    """The URLs the gateway's own search answers for the query (asked on its host)."""
    return webui["search_urls"].split()


@pytest.fixture(scope="module")
def webui(platform: Platform) -> dict[str, str]:
    """Open WebUI's URL, the admin's e-mail and password (read from its host's secret store),
    and the gateway's results for the query."""
    host, home = webui_host(platform), gateway_host(platform)
    ow = OPEN_WEBUI.on(platform, host)
    assert ow is not None
    store = platform.host(host).layout.secret_file(ow.admin_password.env)
    search = search_url(platform)  # on the gateway's host: its loopback
    key = platform.host(home).layout.secret_file(platform.gateway.proxy_key.env)
    body = json.dumps({"query": QUERY, "max_results": platform.gateway.search_max_results})
    with connected(LAB_INVENTORY, list(dict.fromkeys([host, home]))) as hosts:
        password = hosts[host].run(f"cat {shlex.quote(store)}")
        # The gateway's own answer to the query, asked on its host (the key stays there).
        found = hosts[home].run(
            f'curl -fsS -H "Authorization: Bearer $(cat {shlex.quote(key)})" '
            f"-H 'content-type: application/json' -d {shlex.quote(body)} {shlex.quote(search)}"
        )
    assert password.ok and password.stdout.strip(), password.stderr
    assert found.ok, found.stderr
    urls = [r["url"] for r in json.loads(found.stdout)["results"]]
    assert urls, f"the gateway's search found nothing for {QUERY!r}"
    return {
        "url": f"http://{platform.addresses[host]}:{ow.listener.port}",
        "email": ow.admin_email,
        "password": password.stdout.strip(),
        "search_urls": " ".join(urls),
    }


@pytest.fixture(scope="module")
def api(webui: dict[str, str]) -> Iterator[httpx.Client]:
    """Open WebUI's API as the admin: for the task setting and to delete the test's chats."""
    with httpx.Client(base_url=webui["url"], timeout=30) as client:
        signin = client.post(
            "/api/v1/auths/signin", json={"email": webui["email"], "password": webui["password"]}
        )
        assert signin.status_code == 200, signin.text[:300]
        client.headers["Authorization"] = f"Bearer {signin.json()['token']}"
        yield client


@pytest.fixture(scope="module")
def browser(webui: dict[str, str]) -> Iterator[Any]:
    _ensure_chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    with tempfile.TemporaryDirectory(prefix="homelab-chromium-") as profile:
        options.add_argument(f"--user-data-dir={profile}")
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        driver.implicitly_wait(10)
        try:
            yield driver
        finally:
            driver.quit()


#: The chat's controls button.
CONTROLS = "button[aria-label=Controls]"


def _until(what: str, check: Callable[[], Any], seconds: float = WAIT) -> Any:
    from selenium.common.exceptions import StaleElementReferenceException

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            found = check()
        except StaleElementReferenceException:  # the page re-rendered under it: look again
            found = None
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError(f"not seen within {seconds:.0f} s: {what}")


def _click(what: str, find: Callable[[], Any], seconds: float = 30) -> None:
    """Click what ``find`` finds, once nothing lies over it (a notification toast fades)."""
    from selenium.common.exceptions import (
        ElementClickInterceptedException,
        StaleElementReferenceException,
    )

    def clicked() -> bool:
        try:
            find().click()
        except (ElementClickInterceptedException, StaleElementReferenceException):
            return False
        return True

    _until(f"{what} clickable", clicked, seconds)


@pytest.fixture(scope="module")
def signed_in(browser: Any, webui: dict[str, str], api: httpx.Client) -> Iterator[Any]:
    from selenium.webdriver.common.by import By

    before = {c["id"] for c in api.get("/api/v1/chats/").json()}
    browser.get(f"{webui['url']}/auth")
    browser.find_element(By.CSS_SELECTOR, "input[type=email]").send_keys(webui["email"])
    browser.find_element(By.CSS_SELECTOR, "input[type=password]").send_keys(webui["password"])
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    browser.find_element(By.ID, "model-selector-model-button")  # the chat page
    time.sleep(2)
    for notes in browser.find_elements(By.XPATH, '//button[contains(., "Okay, Let\'s Go!")]'):
        notes.click()  # the release notes shown at a first sign-in
    try:
        yield browser
    finally:
        for chat in api.get("/api/v1/chats/").json():
            if chat["id"] not in before:
                api.delete(f"/api/v1/chats/{chat['id']}")


def _send(browser: Any, text: str) -> None:
    from selenium.webdriver.common.by import By

    box = browser.find_element(By.ID, "chat-input")
    box.click()
    box.send_keys(text)
    browser.find_element(By.ID, "send-message-button").click()


def _new_chat(browser: Any, url: str, handle: str) -> None:
    from selenium.webdriver.common.by import By

    browser.get(f"{url}/")  # a new chat
    _click("the model selector", lambda: browser.find_element(By.ID, "model-selector-model-button"))
    browser.find_element(By.CSS_SELECTOR, f'button[data-value="{handle}"]').click()
    _until(
        f"{handle} selected",
        lambda: (
            handle
            in browser.find_element(By.ID, "model-selector-model-button").get_attribute(
                "aria-label"
            )
        ),
    )


def test_sign_in_pick_an_mlx_handle_and_get_an_answer(
    signed_in: Any, platform: Platform, webui: dict[str, str]
) -> None:
    from selenium.webdriver.common.by import By

    mlx = [h.handle for h in platform.handles() if h.backend is Backend.MLX]
    handle = mlx[-1]  # not the first: the one a user picks, not the default
    _new_chat(signed_in, webui["url"], handle)
    _send(signed_in, "Say hello")
    answer = _until(
        "an answer in the chat",
        lambda: [
            e.text
            for e in signed_in.find_elements(By.ID, "response-content-container")
            if e.text.strip()
        ],
    )
    assert answer[0].strip()
    names = [e.text for e in signed_in.find_elements(By.XPATH, f"//*[text()='{handle}']")]
    assert names, f"the answer is not labelled {handle}"


@pytest.fixture
def search_as_typed(api: httpx.Client) -> Iterator[None]:
    """The admin's "search query generation" off for the test (the lab's models write noise)."""
    config = api.get("/api/v1/tasks/config").json()
    off = api.post(
        "/api/v1/tasks/config/update", json={**config, "ENABLE_SEARCH_QUERY_GENERATION": False}
    )
    assert off.status_code == 200, off.text[:300]
    try:
        yield
    finally:
        back = api.post("/api/v1/tasks/config/update", json=config)
        assert back.status_code == 200, back.text[:300]


def test_web_search_shows_the_gateways_results(
    signed_in: Any,
    platform: Platform,
    webui: dict[str, str],
    gateway_results: list[str],
    search_as_typed: None,
) -> None:
    from selenium.webdriver.common.by import By

    browser = signed_in
    handle = next(h.handle for h in platform.handles() if h.backend is Backend.MLX)
    _new_chat(browser, webui["url"], handle)
    # The chat's controls: function calling Legacy (Open WebUI searches before the model runs).
    _click("the chat's controls", lambda: browser.find_element(By.CSS_SELECTOR, CONTROLS))
    mode = browser.find_element(
        By.XPATH, "//label[span[text()='Function Calling']]/following-sibling::div//button"
    )
    for _ in range(4):
        if mode.text.strip() == "Legacy":
            break
        mode.click()
    assert mode.text.strip() == "Legacy"
    _click("the chat's controls", lambda: browser.find_element(By.CSS_SELECTOR, CONTROLS))
    # Web search on, from the chat box's integrations menu.
    _click("the integrations menu", lambda: browser.find_element(By.ID, "integration-menu-button"))
    toggle = browser.find_element(
        By.XPATH, "//button[@role='menuitemcheckbox'][contains(., 'Web Search')]"
    )
    toggle.click()
    browser.find_element(By.TAG_NAME, "body").click()
    _send(browser, QUERY)
    sources = _until(
        "the sources of the web search",
        lambda: browser.find_elements(By.XPATH, "//button[contains(., 'Sources')]"),
    )
    sources[-1].click()
    wanted = gateway_results
    shown = _until(
        "the gateway's results listed",
        lambda: [u for u in wanted if u in browser.page_source],
    )
    print("sources shown:", shown)
    assert shown, f"none of the gateway's results {wanted} is in the page"
    SCREENSHOT.parent.mkdir(exist_ok=True)
    assert browser.save_screenshot(str(SCREENSHOT))
    assert 10_000 < SCREENSHOT.stat().st_size < 400_000
