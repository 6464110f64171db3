"""The dashboard at /ui in a real browser (Playwright driving Debian's
chromium, headless): sign in with the admin key (a team key is refused), a
semantic cache hit made by two paraphrased SDK calls shown with its
similarity and savings and then purged, a budget's burn after requests, a
changed MCP tool definition approved from the page and then callable, and
every page loading with no console error and no request leaving the gateway.

Set SWITCHBOARD_SCREENSHOTS to a directory to keep a screenshot of each page.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import os
import re
import secrets
import time
from pathlib import Path

import anyio
import httpx
import pytest

from conftest import ADDRESS, HERE, Process, binary, gateway_env, sdk
from helpers import ALPHA_KEY, require_env
from test_mcp import Session, call_text, peers, toml_string

ADMIN_KEY = "sk-admin-" + secrets.token_hex(16)
PAGES = ["overview", "spend", "cache", "requests", "guardrails", "mcp"]


@pytest.fixture(scope="module")
def chromium() -> str:
    return require_env("SWITCHBOARD_CHROMIUM", "scripts/test installs Debian's chromium")


@pytest.fixture(scope="module")
def model_dir() -> str:
    return require_env("SWITCHBOARD_EMBEDDING_MODEL_DIR", "scripts/fetch-model")


@pytest.fixture(scope="module")
def dashboard(mock_url, tmp_path_factory, model_dir):
    """A gateway with the admin API, the semantic cache and one MCP server."""
    time_server = peers()["MCP_TIME_SERVER"]
    data = tmp_path_factory.mktemp("dashboard")
    config = data / "gateway.toml"
    config.write_text(
        (HERE / "gateway.toml").read_text()
        + f"""
[admin]
hash = "sha256:{hashlib.sha256(ADMIN_KEY.encode()).hexdigest()}"

[cache]
enabled = true

[request_log]
enabled = true

[mcp]
admin_commands = [{toml_string(time_server)}]

[[mcp.servers]]
name = "clock"
command = {toml_string(time_server)}
args = ["--local-timezone", "UTC"]

[[mcp.teams]]
team = "alpha"
allow = ["clock/*"]
"""
    )
    proc = Process("dashboard-gateway", [str(binary()), "serve", "--config", str(config)], gateway_env(mock_url))
    url = proc.wait_for_line(rf"switchboard listening on {ADDRESS}").group(1)
    yield url
    proc.stop()


def admin(url: str, method: str, path: str, body: dict | None = None) -> httpx.Response:
    return httpx.request(method, url + path, json=body, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=30)


def eventually(check, what: str, timeout: float = 30, detail=lambda: ""):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what} {detail()}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def browser(chromium):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
        yield browser
        browser.close()


class Watched:
    """A browser page whose console errors, page errors and requests are kept."""

    def __init__(self, browser, base: str):
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.base = base
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))

    def sign_in(self, key: str):
        self.page.goto(self.base + "/ui/")
        self.page.fill("#key", key)
        # The form posts and the browser navigates to what it answers: wait
        # for that page, or the next goto may race the session cookie.
        with self.page.expect_navigation():
            self.page.click("button[type=submit]")

    def open(self, name: str):
        target = f"{self.base}/ui/#/{name}"
        if self.page.url == target:
            self.page.reload()  # the same URL again would not draw the page anew
        else:
            self.page.goto(target)
        self.page.wait_for_selector(f"main[data-page='{name}']")
        shots = os.environ.get("SWITCHBOARD_SCREENSHOTS")
        if shots:
            Path(shots).mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=str(Path(shots) / f"{name}.png"), full_page=True)

    def assert_clean(self):
        assert not self.errors, f"console errors: {self.errors}"
        foreign = [u for u in self.requests if not u.startswith(self.base)]
        assert not foreign, f"requests that left the gateway: {foreign}"


def test_a_team_key_and_a_wrong_key_are_refused(dashboard, browser):
    watched = Watched(browser, dashboard)
    watched.sign_in(ALPHA_KEY)
    assert "team key cannot open the dashboard" in watched.page.inner_text("p.error")
    watched.sign_in("sk-not-a-key")
    assert "not the admin key" in watched.page.inner_text("p.error")
    assert "switchboard_session" not in {c["name"] for c in watched.context.cookies()}
    # The admin API itself is still closed to a browser without a session.
    response = watched.page.request.get(dashboard + "/admin/requests")
    assert response.status == 401
    watched.context.close()


def test_the_session_cookie_is_strict_and_changes_need_the_csrf_token(dashboard, browser):
    watched = Watched(browser, dashboard)
    watched.sign_in(ADMIN_KEY)
    watched.page.wait_for_selector("main[data-page='overview']")
    (cookie,) = [c for c in watched.context.cookies() if c["name"] == "switchboard_session"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["expires"] > time.time()
    headers = watched.page.request.get(dashboard + "/ui/").headers
    assert "script-src 'self'" in headers["content-security-policy"]
    # With the cookie but without the token, a change is refused.
    refused = watched.page.request.post(dashboard + "/admin/cache/purge", data={"team": "alpha"})
    assert refused.status == 403
    assert "x-csrf-token" in refused.json()["error"]["message"]
    watched.page.click("text=Sign out")
    watched.page.wait_for_selector("#key")
    assert watched.page.request.get(dashboard + "/admin/requests").status == 401
    watched.context.close()


def test_every_page_loads_clean(dashboard, browser):
    alpha = sdk(f"{dashboard}/v1", ALPHA_KEY)
    alpha.chat.completions.create(model="fast", messages=[{"role": "user", "content": "Name a prime number."}])
    watched = Watched(browser, dashboard)
    watched.sign_in(ADMIN_KEY)
    for name in PAGES:
        watched.open(name)
        assert watched.page.inner_text("h1")
    watched.open("requests")
    assert "alpha" in watched.page.inner_text("#request-log")
    # Filtered by team and time: only that team's rows of the last hour.
    watched.page.fill("form.inline >> input[name=team]", "beta")
    watched.page.select_option("form.inline >> select[name=since]", "1h")
    watched.page.click("form.inline >> button:has-text('Filter')")
    watched.page.wait_for_selector("#request-log >> text=nothing yet")
    watched.page.fill("form.inline >> input[name=team]", "alpha")
    watched.page.click("form.inline >> button:has-text('Filter')")
    watched.page.wait_for_selector("#request-log >> text=alpha")
    # One request's inside: its stages and its attempt.
    watched.page.click("#request-log tbody tr >> nth=0 >> a")
    stages = watched.page.wait_for_selector("#request-detail table.stages").inner_text()
    assert "dispatch" in stages and "guard_input" in stages
    assert "openai/gpt-4o-mini" in watched.page.inner_text("#request-detail table.attempts")
    watched.assert_clean()
    watched.context.close()


def test_a_semantic_hit_is_shown_and_purged(dashboard, browser, mock_http):
    alpha = sdk(f"{dashboard}/v1", ALPHA_KEY)
    raw = alpha.chat.completions.with_raw_response.create(
        model="fast", messages=[{"role": "user", "content": "How do I reset my password?"}]
    )
    assert raw.headers["x-switchboard-cache"] == "miss"
    raw = alpha.chat.completions.with_raw_response.create(
        model="fast", messages=[{"role": "user", "content": "What are the steps to reset my password?"}]
    )
    assert raw.headers["x-switchboard-cache"] == "hit-semantic"
    similarity = float(raw.headers["x-switchboard-cache-similarity"])

    watched = Watched(browser, dashboard)
    watched.sign_in(ADMIN_KEY)
    watched.open("cache")
    entries = watched.page.inner_text("#cache-entries")
    assert "How do I reset my password?" in entries
    watched.page.click("#cache-entries >> text=How do I reset my password?")
    history = watched.page.wait_for_selector("table.history")
    text = history.inner_text()
    assert "What are the steps to reset my password?" in text
    assert f"{similarity:.4f}" in text
    assert "accepted, 0." in text  # the verifier's probability
    saved = watched.page.inner_text("#entry-detail")
    assert re.search(r"saved [1-9]\d* tokens \(\$0\.0*[1-9]", saved), saved

    watched.page.fill("form.inline >> input[name=team]", "alpha")
    watched.page.click("button:has-text('Purge')")
    watched.page.wait_for_selector("#cache-status >> text=Purged")
    assert "How do I reset my password?" not in watched.page.inner_text("#cache-entries")
    raw = alpha.chat.completions.with_raw_response.create(
        model="fast", messages=[{"role": "user", "content": "What are the steps to reset my password?"}]
    )
    assert raw.headers["x-switchboard-cache"] == "miss"
    watched.assert_clean()
    watched.context.close()


def test_a_budget_burns_on_the_spend_page(dashboard, browser):
    watched = Watched(browser, dashboard)
    watched.sign_in(ADMIN_KEY)
    watched.open("spend")
    # Set alpha's daily budget from the page.
    form = watched.page.locator("form.inline", has_text="Set daily budget")
    form.locator("select[name=team]").select_option("alpha")
    form.locator("input[name=usd_per_day]").fill("0.01")
    form.locator("button").click()
    watched.page.wait_for_selector("#budgets >> text=alpha")
    alpha = sdk(f"{dashboard}/v1", ALPHA_KEY)
    for i in range(3):
        alpha.chat.completions.create(model="fast", messages=[{"role": "user", "content": f"Count to {i + 3}."}])

    def burning():
        watched.open("spend")
        burn = watched.page.inner_text("[data-burn=alpha]")
        return burn if burn not in ("0.0%", "–") else None

    burn = eventually(burning, "alpha's burn on the spend page", detail=lambda: (watched.page.inner_text("#budgets"), admin(dashboard, "GET", "/admin/teams/alpha").text))
    assert float(burn.rstrip("%")) > 0
    watched.assert_clean()
    watched.context.close()


def test_a_changed_tool_is_approved_from_the_page(dashboard, browser):
    time_server = peers()["MCP_TIME_SERVER"]
    eventually(
        lambda: any(t["server"] == "clock" for t in admin(dashboard, "GET", "/admin/mcp/tools").json()["data"]),
        "the clock's tools",
    )
    # The same server again, naming another local zone: its tools' argument
    # descriptions change, so the new definitions wait for approval.
    replaced = admin(
        dashboard,
        "PUT",
        "/admin/mcp/servers/clock",
        {"name": "clock", "command": time_server, "args": ["--local-timezone", "Europe/Paris"]},
    )
    assert replaced.status_code == 200, replaced.text
    pending = eventually(lambda: admin(dashboard, "GET", "/admin/mcp/approvals").json()["data"], "a pending approval")
    tools = {change["tool"] for change in pending}

    watched = Watched(browser, dashboard)
    watched.sign_in(ADMIN_KEY)
    for tool in sorted(tools):
        watched.open("mcp")
        row = watched.page.locator("#approvals tr", has_text=tool)
        # The approved and the offered definition, side by side.
        definitions = row.locator("pre").all_inner_texts()
        assert len(definitions) == 2 and "UTC" in definitions[0] and "Europe/Paris" in definitions[1], definitions
        row.locator("button:has-text('Approve')").click()
        watched.page.wait_for_selector(f"#mcp-status >> text=Approved clock/{tool}")
    assert admin(dashboard, "GET", "/admin/mcp/approvals").json()["data"] == []

    # Callable again through /mcp, by the MCP SDK.
    async def call() -> tuple[bool, str]:
        async with Session(dashboard, ALPHA_KEY, "auto") as client:
            return await call_text(client, "clock__get_current_time", {"timezone": "Europe/Paris"})

    # Playwright's sync API holds this thread's event loop: the SDK runs on its own.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        failed, text = pool.submit(anyio.run, call).result(timeout=60)
    assert not failed and "Europe/Paris" in text, text
    # The call is among the page's recent calls, with its outcome.
    watched.open("mcp")
    assert "clock/get_current_time" in watched.page.inner_text("#mcp-calls")
    watched.assert_clean()
    watched.context.close()
