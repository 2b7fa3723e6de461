"""A real browser on the console: one Debian chromium for all the page tests, a fresh context per
test, and a router with client keys over two fake upstreams on loopback (tests/harness.py).

Every page records each request it makes, each response it gets and each console message; at
teardown no request may have left the page's origin, no script may have thrown and no Content
Security Policy violation may have been reported."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Request, Response, sync_playwright

from router.demo.scripted import Behaviour
from router.demo.upstream import FakeUpstream
from tests.harness import Harness, harness
from tests.ui import browser as chromium

CLIENT_KEY = "sk-console-test-4d9c1f"
OTHER_KEY = "sk-console-other-77a2b0"
BACKENDS = ("alpha/m", "beta/m")
# Word by word with a small gap, so the answer visibly streams.
STREAMING = Behaviour(chunk_delay_s=0.02)


# Module scope, with every page test in one module (so chromium still starts once per run): while
# Playwright's sync API is alive, asyncio sees a loop running in the main thread, and every
# pytest-asyncio test after it would fail.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable, why = chromium.chromium()
    if executable is None:
        pytest.skip(f"no chromium: {why}")
    with sync_playwright() as playwright:
        launched = chromium.launch(playwright, executable)
        try:
            yield launched
        finally:
            launched.close()


@dataclass
class Rig:
    h: Harness
    url: str
    fakes: dict[str, FakeUpstream]

    def release(self) -> None:
        """End every scripted hang or stall."""
        for fake in self.fakes.values():
            self.h.call(fake.hang.set)


@pytest.fixture
def rig() -> Iterator[Rig]:
    with harness() as h:
        fakes = {name: FakeUpstream({"m": STREAMING}) for name in ("alpha", "beta")}
        urls = {name: h.upstream(name, fake) for name, fake in fakes.items()}
        url = h.router({
            "server": {"client_keys_env": "CK"},
            "health": {"probe_interval_s": 3600},  # only requests move the states here
            "providers": [{"name": name, "api": "openai", "base_url": base, "timeout_s": 5,
                           "rpm": 600, "models": [{"name": "m"}]}
                          for name, base in urls.items()],
            "routes": [{"name": "free", "strategy": "random", "backends": ["*"]},
                       {"name": "only-beta", "strategy": "random", "backends": ["beta/*"]}],
        }, env={"CK": f"tester:{CLIENT_KEY},other:{OTHER_KEY}"})
        rig = Rig(h, url, fakes)
        try:
            yield rig
        finally:
            rig.release()


@dataclass
class Recorder:
    origin: str
    requests: list[Request] = field(default_factory=list)
    responses: list[Response] = field(default_factory=list)
    console: list[ConsoleMessage] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    navigations: int = 0

    def foreign(self) -> list[str]:
        return [r.url for r in self.requests if _origin(r.url) != self.origin]

    def bodies(self, path: str) -> list[str]:
        """The bodies of every answer the page got from `path`."""
        return [r.text() for r in self.responses if urlsplit(r.url).path == path and r.ok]


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@pytest.fixture
def recorder(rig: Rig) -> Recorder:
    return Recorder(_origin(rig.url))


@pytest.fixture
def page(browser: Browser, rig: Rig, recorder: Recorder) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme="light")
    page = context.new_page()
    # Playwright wants Python functions here, not bound builtins like list.append.
    page.on("request", lambda request: recorder.requests.append(request))
    page.on("response", lambda response: recorder.responses.append(response))
    page.on("console", lambda message: recorder.console.append(message))
    page.on("pageerror", lambda error: recorder.errors.append(str(error)))
    page.on("framenavigated", lambda frame: setattr(
        recorder, "navigations", recorder.navigations + (frame == page.main_frame)))
    try:
        yield page
        assert recorder.foreign() == [], "a request left the page's origin"
        assert recorder.errors == [], "the page threw"
        violations = [m.text for m in recorder.console if "Content Security Policy" in m.text]
        assert violations == []
    finally:
        context.close()
