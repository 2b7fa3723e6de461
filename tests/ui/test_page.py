"""The console page (router/ui/static/) in Debian's chromium: it asks for a key when the router
has client keys and then shows live data, one row per backend whose state follows a fake upstream
breaking, a playground that streams an answer and names its backend and attempts, errors as the
API's own message, nothing fetched from another origin, and no prompt in what the page reads."""

from __future__ import annotations

import re
import uuid
from functools import partial
from typing import Literal
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Page, expect

from router.demo.scripted import Fault
from tests.ui.conftest import BACKENDS, CLIENT_KEY, Recorder, Rig

LIVE_S = 10_000  # ms: several polls (every 1.5 s) on a loaded machine


def unlock(page: Page, rig: Rig, key: str = CLIENT_KEY) -> None:
    page.goto(f"{rig.url}/")
    expect(page.locator("#key")).to_be_visible()
    page.get_by_label("Client key").fill(key)
    page.get_by_role("button", name="Unlock").click()


def path_of(url: str) -> str:
    return urlsplit(url).path


def rows(page: Page) -> list[tuple[str | None, str | None]]:
    return [(r.get_attribute("data-backend"), r.get_attribute("data-state"))
            for r in page.locator("tr[data-backend]").all()]


def ask(page: Page, prompt: str, model: str = "free") -> None:
    page.locator("#model").select_option(model)
    page.locator("#prompt").fill(prompt)
    page.locator("#send").click()


def test_it_asks_for_a_key_then_shows_the_data(page: Page, rig: Rig, recorder: Recorder) -> None:
    page.goto(f"{rig.url}/")
    assert page.url == f"{rig.url}/ui/"
    expect(page.locator("#key")).to_be_visible()
    expect(page.locator("#key")).to_be_focused()
    expect(page.locator("#main")).to_be_hidden()
    assert rows(page) == []

    page.get_by_label("Client key").fill("sk-not-a-key")
    page.keyboard.press("Enter")
    expect(page.locator("#key-error")).to_contain_text("not accepted: the client key is not valid")
    expect(page.locator("tr[data-backend]")).to_have_count(0)

    page.get_by_label("Client key").fill(CLIENT_KEY)
    page.keyboard.press("Enter")
    expect(page.locator("tr[data-backend]")).to_have_count(len(BACKENDS))
    expect(page.locator("#key-form")).to_be_hidden()
    assert sorted(rows(page)) == [(b, "healthy") for b in BACKENDS]
    assert page.evaluate("() => sessionStorage.getItem('freerouter.key')") == CLIENT_KEY
    expect(page.locator("#key")).to_have_value("")  # not left in the field

    page.reload()  # the tab keeps it: no second prompt
    expect(page.locator("tr[data-backend]")).to_have_count(len(BACKENDS))
    expect(page.locator("#key-form")).to_be_hidden()

    data = [r for r in recorder.requests if "/status" in r.url or "/v1/" in r.url]
    assert data, "the page fetched no data"
    sent = [r.all_headers().get("authorization") for r in data]
    assert set(sent) - {None} <= {"Bearer sk-not-a-key", f"Bearer {CLIENT_KEY}"}
    assert f"Bearer {CLIENT_KEY}" in sent
    assert not [r.url for r in recorder.requests if CLIENT_KEY in r.url], "a key in a URL"
    assert not [m.text for m in recorder.console if CLIENT_KEY in m.text], "a key logged"

    page.get_by_role("button", name="Forget key").click()
    expect(page.locator("#key")).to_be_visible()
    assert page.evaluate("() => sessionStorage.getItem('freerouter.key')") is None


def test_a_backend_row_turns_cooling_live_when_its_upstream_rate_limits(
    page: Page, rig: Rig, recorder: Recorder,
) -> None:
    unlock(page, rig)
    alpha, beta = (page.locator(f'tr[data-backend="{b}"]') for b in BACKENDS)
    expect(alpha).to_have_attribute("data-state", "healthy")
    expect(alpha.locator(".state")).to_have_text("healthy")
    navigations = recorder.navigations

    rig.h.call(lambda: rig.fakes["alpha"].inject(Fault(status=429, headers={"Retry-After": "300"})))
    answer = httpx.post(f"{rig.url}/v1/chat/completions",
                        headers={"Authorization": f"Bearer {CLIENT_KEY}"},
                        json={"model": "alpha/m", "messages": [{"role": "user", "content": "hi"}]})
    assert answer.status_code >= 400

    expect(alpha).to_have_attribute("data-state", "cooling", timeout=LIVE_S)
    expect(alpha.locator(".state")).to_have_text("cooling")  # a text label, not only a colour
    expect(alpha.locator(".cooldown")).to_contain_text(re.compile(r"\d+(\.\d)? s rate limited"))
    expect(alpha.locator("td.num").nth(3)).to_have_text("1")  # failures
    expect(beta).to_have_attribute("data-state", "healthy")
    expect(page.locator('.route[data-route="free"] .member[data-state="cooling"]')).to_have_text("alpha/m")
    expect(page.locator(".tile[data-state='cooling']")).to_contain_text("1 cooling")
    assert recorder.navigations == navigations, "the page reloaded"


def test_every_status_field_is_shown_and_budgets_render_whatever_exists(
    page: Page, rig: Rig,
) -> None:
    unlock(page, rig)
    row = page.locator('tr[data-backend="beta/m"]')
    expect(row).to_be_visible()
    cells = row.locator("td")
    expect(cells).to_have_count(10)
    status = httpx.get(f"{rig.url}/status", headers={"Authorization": f"Bearer {CLIENT_KEY}"}).json()
    beta = next(b for b in status["backends"] if b["id"] == "beta/m")
    budget = [name.removesuffix("_left") for name, v in beta["budget"].items() if v is not None]
    assert budget, "the rig configures an rpm budget"
    for unit in budget:
        expect(row.locator(".budget")).to_contain_text(unit)
    expect(row.locator(".budget")).to_contain_text(str(beta["budget"]["rpm_left"]))
    routes = page.locator(".route")
    expect(routes).to_have_count(len(status["routes"]))
    expect(page.locator('.route[data-route="only-beta"]')).to_contain_text("random")
    expect(page.locator('.route[data-route="only-beta"] .member')).to_have_text(["beta/m"])


def test_the_playground_streams_an_answer_and_names_its_backend(
    page: Page, rig: Rig, recorder: Recorder,
) -> None:
    unlock(page, rig)
    options = page.locator("#model option")
    expect(options).to_have_text(["free", "only-beta", *BACKENDS])
    expect(page.locator("#model")).to_have_value("free")

    # Stall the stream halfway: what the page shows by then arrived as a stream.
    for fake in rig.fakes.values():
        rig.h.call(partial(fake.inject, Fault(kind="stall")))
    prompt = f"tell me about {uuid.uuid4().hex}"
    ask(page, prompt)
    expect(page.locator("#answer")).to_contain_text("Hello from m!")
    expect(page.locator("#answer")).to_have_attribute("aria-busy", "true")
    expect(page.locator("#send")).to_be_disabled()
    assert prompt not in page.locator("#answer").inner_text()
    rig.release()
    expect(page.locator("#answer")).to_have_text(f"Hello from m! You said: {prompt}")
    expect(page.locator("#answer")).to_have_attribute("aria-busy", "false")
    expect(page.locator("#send")).to_be_enabled()
    served = page.locator("#served-by").inner_text()
    assert served in BACKENDS
    expect(page.locator("#attempts")).to_have_text("1")
    chat = [r for r in recorder.requests if r.url.endswith("/v1/chat/completions")]
    assert len(chat) == 1 and chat[0].method == "POST"
    sent = chat[0].post_data_json
    assert sent is not None and sent["stream"] is True

    # The recent list shows it, answered (the page read the stream to its end: no 499).
    newest = page.locator("#requests tbody tr").first
    expect(newest).to_contain_text(served, timeout=LIVE_S)
    expect(newest).to_contain_text("200")
    expect(newest).to_contain_text("stream")


def test_a_backend_asked_for_by_id_serves_and_failed_attempts_are_counted(
    page: Page, rig: Rig,
) -> None:
    unlock(page, rig)
    expect(page.locator("#model option")).to_have_count(2 + len(BACKENDS))
    ask(page, "hello", model="beta/m")
    expect(page.locator("#served-by")).to_have_text("beta/m")
    expect(page.locator("#attempts")).to_have_text("1")
    for fake in rig.fakes.values():
        rig.h.call(partial(fake.inject, Fault(status=503)))
    ask(page, "again", model="free")  # each backend fails once, before the first byte
    expect(page.locator("#attempts")).to_have_text("2")
    expect(page.locator("#play-error")).to_contain_text("503")
    expect(page.locator("#answer")).to_have_text("")
    page.locator("#send").click()
    expect(page.locator("#answer")).to_contain_text("You said: again")
    expect(page.locator("#attempts")).to_have_text("1")
    expect(page.locator("#play-error")).to_be_hidden()


def test_errors_are_shown_as_the_apis_own_message(page: Page, rig: Rig) -> None:
    unlock(page, rig)
    expect(page.locator("#model option")).to_have_count(2 + len(BACKENDS))
    body = b'{"error": {"message": "this prompt is too long for the test model", "type": "x"}}'
    rig.h.call(lambda: rig.fakes["beta"].inject(Fault(status=400, body=body)))
    ask(page, "hello", model="only-beta")
    expect(page.locator("#play-error")).to_contain_text("this prompt is too long for the test model")
    expect(page.locator("#answer")).to_have_text("")

    # After the first byte: the stream ends with the API's in-band error event.
    rig.h.call(lambda: rig.fakes["beta"].inject(Fault(kind="midstream_error")))
    page.locator("#send").click()
    expect(page.locator("#play-error")).to_contain_text("upstream overloaded")
    expect(page.locator("#answer")).to_contain_text("Hello")
    expect(page.locator("#send")).to_be_enabled()

    # Every backend of the route cooling: the 503's message, not a broken page.
    rig.h.call(lambda: rig.fakes["beta"].inject(Fault(status=429, headers={"Retry-After": "300"})))
    page.locator("#send").click()
    expect(page.locator("#play-error")).not_to_have_text("")
    page.locator("#send").click()
    expect(page.locator("#play-error")).to_contain_text(re.compile("cooling|budget|retry", re.I))
    expect(page.locator("tr[data-backend]")).to_have_count(len(BACKENDS))


def test_no_prompt_reaches_the_recent_requests_or_anything_the_page_polls(
    page: Page, rig: Rig, recorder: Recorder,
) -> None:
    unlock(page, rig)
    prompt = f"my private question {uuid.uuid4().hex}"
    ask(page, prompt)
    expect(page.locator("#answer")).to_contain_text(prompt)  # the fake echoes it back
    served = page.locator("#served-by").inner_text()
    expect(page.locator("#requests tbody tr").first).to_contain_text(served, timeout=LIVE_S)

    polled = recorder.bodies("/status/requests") + recorder.bodies("/status")
    assert polled and any(served in body for body in recorder.bodies("/status/requests"))
    ring = httpx.get(f"{rig.url}/status/requests",
                     headers={"Authorization": f"Bearer {CLIENT_KEY}"}).text
    for text in (*polled, ring, page.locator("#requests").inner_text()):
        assert prompt not in text and "private question" not in text and "Hello from" not in text
        assert CLIENT_KEY not in text


def test_the_page_uses_its_own_origin_only_and_no_server_banner(
    page: Page, rig: Rig, recorder: Recorder,
) -> None:
    unlock(page, rig)
    ask(page, "hi")
    expect(page.locator("#attempts")).to_have_text("1")
    kinds = {path_of(r.url): r.headers.get("content-type", "") for r in recorder.responses}
    assert kinds["/ui/"] == "text/html; charset=utf-8"
    assert kinds["/ui/app.css"] == "text/css; charset=utf-8"
    assert kinds["/ui/app.js"] == "text/javascript; charset=utf-8"
    assert kinds["/ui/favicon.svg"] == "image/svg+xml"
    page_answer = next(r for r in recorder.responses if path_of(r.url) == "/ui/")
    assert "default-src 'self'" in page_answer.headers["content-security-policy"]
    assert all("server" not in r.headers for r in recorder.responses)
    assert recorder.foreign() == []
    assert {path_of(r.url) for r in recorder.requests} >= {
        "/", "/ui/", "/ui/app.js", "/ui/app.css", "/status", "/status/requests", "/v1/models",
        "/v1/chat/completions"}


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_both_themes_and_the_keyboard_work(page: Page, rig: Rig, scheme: Literal["light", "dark"]) -> None:
    page.emulate_media(color_scheme=scheme)
    unlock(page, rig)
    expect(page.locator("tr[data-backend]")).to_have_count(len(BACKENDS))
    background = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    dark = background != "rgb(245, 246, 248)"
    assert dark == (scheme == "dark"), background
    for label, target in (("Model", "#model"), ("Prompt", "#prompt")):
        expect(page.get_by_label(label)).to_have_attribute("id", target[1:])

    page.locator("body").focus()
    reached: list[str] = []
    for _ in range(40):  # Tab through the page until the prompt
        page.keyboard.press("Tab")
        reached.append(page.evaluate("() => document.activeElement.id"))
        if reached[-1] == "prompt":
            break
    assert "model" in reached and reached[-1] == "prompt"
    page.keyboard.type("typed by keyboard")
    page.keyboard.press("Control+Enter")
    expect(page.locator("#answer")).to_contain_text("You said: typed by keyboard")
