"""The operator console in a real browser (Debian's Chromium driven by Playwright) against the
app served by uvicorn: sign-in, approval, the builder and the playground, the live inbox fed by a
signed webhook, rollback. Screenshots of each page go to var/screenshots (git-ignored)."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.config import Settings
from app.services import Services, build_services
from app.webhooks.signature import sign_legacy
from indexer.edge import EdgeStore
from tests.conftest import FakeEmbedder, api_key
from tests.console_server import serve
from tests.flow_helpers import LINE_ID, LINE_NUMBER, SECRET, install_model, message_event

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parent.parent / "var" / "screenshots"
DOOR = "The door code for Bedford is 4512."
HOURS = "We're open 7am to 11pm every day."


def _browser_or_skip() -> Any:
    """Playwright's sync API, or a skip (a failure under CI) saying what is missing."""
    missing = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing = "the playwright package is not installed (pip install -e '.[dev]')"
    if missing is None and not (Path(CHROMIUM).exists() or shutil.which("chromium")):
        missing = f"{CHROMIUM} is missing: `make install` installs it (apt-get install chromium)"
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"browser tests need Chromium: {missing}")
        pytest.skip(missing)
    return sync_playwright


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Services]]:
    """(base URL, admin key, services) of a console served with a little learned history."""
    sync_playwright = _browser_or_skip()
    del sync_playwright
    tmp = tmp_path_factory.mktemp("console")
    settings = Settings(
        var_dir=tmp / "var", cache_dir=tmp / "cache", database_url=None, qdrant_url=None,
        openphone_webhook_secret=SECRET, _env_file=None,  # type: ignore[call-arg]
    )  # fmt: skip
    embedder = FakeEmbedder()
    services = build_services(settings, embedder=embedder, store=EdgeStore(tmp / "qdrant", dim=embedder.dim))
    key = api_key(services.engine)
    with serve(services) as base:
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}) as client:
            for text, reply in [
                ("what's the door code for bedford", DOOR),
                ("bedford door code please", DOOR),
                ("what are your opening hours", HOURS),
                ("when are you open", HOURS),
            ]:
                assert client.post("/api/learn", json={"text": text, "reply": reply}).status_code == 201
            line = {"external_id": LINE_ID, "number": LINE_NUMBER, "name": "Bedford"}
            assert client.post("/api/lines", json=line).status_code == 201
        install_model(services)  # predictable confidence from similarity (see flow_helpers)
        yield base, key, services
    services.close()


@pytest.fixture(scope="module")
def browser(console: tuple[str, str, Services]) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"),
            args=["--headless", "--no-sandbox", "--disable-gpu"],
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any, console: tuple[str, str, Services]) -> Iterator[Any]:
    """A signed-in page at 1280 px; any script error fails the test."""
    base, key, _ = console
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{base}/")
    page.fill("#login-key", key)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#live-state.on")
    yield page
    context.close()
    assert not errors, errors


def api(console: tuple[str, str, Services]) -> httpx.Client:
    base, key, _ = console
    return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"})


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def pattern_id_for(client: httpx.Client, reply: str) -> int:
    found = client.get("/api/pattern-list", params={"q": reply}).json()["items"]
    return int(next(p["id"] for p in found if p["response_text"] == reply))


def test_sign_in_needs_a_valid_key_and_sign_out_forgets_it(
    browser: Any, console: tuple[str, str, Services]
) -> None:
    base, key, _ = console
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{base}/")
    page.fill("#login-key", "pls_nothing_real")
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#login-error:has-text('not accepted')")
    assert page.is_hidden("#shell")
    shot(page, "login")
    page.fill("#login-key", key)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#main h1:has-text('Live inbox')")
    assert page.evaluate("sessionStorage.getItem('pls.key')") == key
    page.keyboard.press("?")
    page.wait_for_selector("#help[open] >> text=accept the suggestion")
    page.keyboard.press("Escape")
    page.click("#logout")
    page.wait_for_selector("#login-form")
    assert page.evaluate("sessionStorage.getItem('pls.key')") is None
    page.reload()
    assert page.is_visible("#login-form") and page.is_hidden("#shell")
    context.close()


def test_candidate_is_approved_from_the_queue_with_one_key(
    page: Any, console: tuple[str, str, Services]
) -> None:
    with api(console) as client:
        hours = pattern_id_for(client, HOURS)
        assert client.get(f"/api/patterns/{hours}").json()["status"] == "candidate"
    base = console[0]
    page.goto(f"{base}/#/queue")
    row = page.locator(f'tr.candidate:has-text("{HOURS}")')
    row.click()
    shot(page, "queue")
    page.select_option("#queue-mode", "suggest")
    page.keyboard.press("a")
    page.wait_for_selector(".toast:has-text('Approved as suggest')")
    page.wait_for_selector(f'tr.candidate:has-text("{HOURS}")', state="detached")
    with api(console) as client:
        approved = client.get(f"/api/patterns/{hours}").json()
    assert (approved["status"], approved["mode"]) == ("approved", "suggest")


def test_pattern_built_from_an_example_matches_in_the_playground(
    page: Any, console: tuple[str, str, Services]
) -> None:
    base = console[0]
    reply = "Club rental is free with any booking."
    page.goto(f"{base}/#/builder")
    page.fill("textarea[placeholder='what the customer wrote']", "do you rent golf clubs")
    page.fill("textarea[placeholder='the reply that answers it']", reply)
    page.click("button:has-text('Create pattern')")
    page.wait_for_selector("text=Created pattern")
    created = int(
        page.locator("#main section:nth-of-type(2) a[href^='#/patterns/']").first.inner_text().lstrip("#")
    )
    page.fill("textarea[placeholder^='other ways customers ask']", "can i borrow clubs\nclub rental price")
    page.click("button:has-text('Add examples')")
    page.wait_for_selector("li:has-text('club rental price')")
    page.fill("#builder-probe", "do you rent clubs for golf")
    page.click("button:has-text('Test')")
    page.wait_for_selector(".builder-result:has-text('matches this pattern')")
    shot(page, "builder")
    page.select_option("#builder-mode", "suggest")
    page.click("button:has-text('Approve pattern')")
    page.wait_for_selector(f".toast:has-text('Pattern #{created} approved as suggest')")
    with api(console) as client:
        detail = client.get(f"/api/patterns/{created}").json()
    assert detail["example_count"] == 3 and detail["response_text"] == reply
    assert (detail["status"], detail["mode"]) == ("approved", "suggest")
    page.click("text=Open in the playground")
    page.wait_for_selector("tr.match-result")
    page.fill("#main textarea[data-search]", "do you rent clubs for golf\nwhat's the door code for bedford")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("tr.match-result >> nth=1")
    rows = page.locator("tr.match-result")
    assert rows.nth(0).get_attribute("data-pattern") == str(created)
    assert rows.nth(0).locator("text=" + reply).count() == 1
    assert rows.nth(1).get_attribute("data-pattern") != str(created)
    shot(page, "playground")


def _signed_delivery(base: str, text: str) -> None:
    body = json.dumps(message_event(text)).encode()
    header = sign_legacy(body, SECRET, int(time.time() * 1000))
    response = httpx.post(
        f"{base}/webhooks/openphone", content=body,
        headers={"content-type": "application/json", "openphone-signature": header},
    )  # fmt: skip
    assert response.status_code == 202, response.text


def test_webhook_message_appears_in_the_live_inbox_and_is_accepted(
    page: Any, console: tuple[str, str, Services]
) -> None:
    base, _, services = console
    page.goto(f"{base}/#/inbox")
    page.wait_for_selector("#main h1:has-text('Live inbox')")
    text = "hey whats the door code for bedford"
    _signed_delivery(base, text)
    item = page.locator(f"article.item:has-text('{text}')")
    item.wait_for()
    assert item.locator(".pill").first.inner_text() in ("shadow", "suggest", "auto")
    assert DOOR in item.inner_text()
    item.click()
    page.keyboard.press("a")
    page.wait_for_selector(f"article.item:has-text('{text}') >> text=verdict: accepted")
    shot(page, "inbox")
    with api(console) as client:
        door = pattern_id_for(client, DOOR)
        inbox = client.get("/api/inbox").json()
    assert inbox[0]["text"] == text and inbox[0]["verdict"] == "accepted" and inbox[0]["pattern_id"] == door
    page.keyboard.press("m")  # the accepted reply was learned: the conversation can be marked gold
    page.wait_for_selector(".toast:has-text('marked gold')")
    assert services.flow.drain()


def test_pattern_is_rolled_back_to_its_first_version(page: Any, console: tuple[str, str, Services]) -> None:
    base = console[0]
    with api(console) as client:
        door = pattern_id_for(client, DOOR)
        before = client.get(f"/api/patterns/{door}").json()
        edited = client.patch(
            f"/api/patterns/{door}", json={"response_text": "The Bedford code changed to 9999."}
        )
        assert edited.status_code == 200, edited.text
    page.goto(f"{base}/#/patterns/{door}")
    page.wait_for_selector("text=Mean confidence per day")
    first = page.locator("tr[data-version='1']")
    first.locator("button:has-text('Diff')").click()
    page.wait_for_selector(".diff del:has-text('4512')")
    shot(page, "pattern")
    first.locator("button:has-text('Roll back to v1')").click()
    page.wait_for_selector(".toast:has-text('Rolled back to version 1')")
    page.wait_for_selector(f"h1:has-text('version {before['version'] + 2}')")
    assert page.input_value("#main form textarea") == DOOR
    with api(console) as client:
        now = client.get(f"/api/patterns/{door}").json()
    assert now["response_text"] == DOOR and now["version"] == before["version"] + 2


def test_shadow_switch_is_turned_for_this_business_from_settings(
    page: Any, console: tuple[str, str, Services]
) -> None:
    base = console[0]
    with api(console) as client:
        start = client.get("/api/runtime").json()["shadow"]
    page.goto(f"{base}/#/settings")
    page.wait_for_selector("#shadow-toggle")
    page.click("#shadow-toggle")
    page.wait_for_selector(f"#shadow-state:has-text('Shadow mode is {'OFF' if start else 'ON'}')")
    page.click("button:has-text('Follow the service default')")
    page.wait_for_selector(f"#shadow-state:has-text('Shadow mode is {'ON' if start else 'OFF'}')")
    with api(console) as client:
        runtime = client.get("/api/runtime").json()
        assert runtime["shadow"] is start and runtime["tenant_shadow"] is None
        assert client.get("/api/audit", params={"object_type": "policy"}).json()[0]["action"] == "policy"


@pytest.mark.parametrize("view", ["patterns", "search?q=door%20code", "dashboard", "settings"])
def test_every_page_renders_at_laptop_width(page: Any, console: tuple[str, str, Services], view: str) -> None:
    base = console[0]
    page.goto(f"{base}/#/{view}")
    page.wait_for_selector("#main h1")
    page.wait_for_load_state("networkidle")
    assert page.locator("#main .error").count() == 0
    # Nothing wider than the laptop screen: no horizontal scrolling.
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    shot(page, view.split("?")[0])
