"""The README's screenshot of the console: the demo's simulated backends plus one that is rate
limiting (so a cooling row shows), some traffic, one playground answer, in Debian's chromium;
then Debian's pngquant makes the PNG small (a 256-colour palette is plenty for a flat page).

    .venv/bin/python -m tests.ui.screenshot [docs/console.png] [--dark]
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import expect, sync_playwright

from router.demo.backends import demo_raw_config, demo_upstreams
from router.demo.scripted import Behaviour, Fault
from router.demo.upstream import FakeUpstream
from tests.harness import harness
from tests.installs import debian_binary
from tests.ui import browser as chromium

ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", type=Path, default=ROOT / "docs" / "console.png")
    parser.add_argument("--dark", action="store_true")
    args = parser.parse_args()
    executable, why = chromium.chromium()
    if executable is None:
        raise SystemExit(f"no chromium: {why}")
    with harness() as h, contextlib.ExitStack() as stack:
        demo = demo_upstreams()
        ports = h.run(demo.__aenter__()).ports
        stack.callback(lambda: h.run(demo.__aexit__(None, None, None)))
        busy = FakeUpstream({"busy-32b": Behaviour(latency_s=0.1)})
        raw: dict[str, Any] = demo_raw_config(ports)
        raw["providers"].append({
            "name": "busy", "api": "openai", "base_url": h.upstream("busy", busy), "rpm": 30,
            "models": [{"name": "busy-32b", "capabilities": ["tools"], "context_length": 32768}]})
        url = h.router(raw)
        with httpx.Client(base_url=url, timeout=30) as client:
            for n in range(24):
                client.post("/v1/chat/completions", json={
                    "model": "free", "stream": n % 3 == 0,
                    "messages": [{"role": "user", "content": "hi"}]})
            h.call(lambda: busy.inject(Fault(status=429, headers={"Retry-After": "90"})))
            client.post("/v1/chat/completions", json={
                "model": "busy/busy-32b", "messages": [{"role": "user", "content": "hi"}]})
        with sync_playwright() as playwright:
            browser = chromium.launch(playwright, executable)
            page = browser.new_page(viewport={"width": 1280, "height": 1180},
                                    color_scheme="dark" if args.dark else "light")
            page.goto(f"{url}/ui/")
            expect(page.locator('tr[data-backend="busy/busy-32b"]')).to_have_attribute(
                "data-state", "cooling")
            page.locator("#prompt").fill("Which backend are you?")
            page.locator("#send").click()
            expect(page.locator("#answer")).to_contain_text("You said")
            expect(page.locator("#send")).to_be_enabled()
            expect(page.locator("#requests tbody tr").first).to_contain_text("stream")
            page.locator("#prompt").blur()
            page.screenshot(path=str(args.out))
            browser.close()
    pngquant, why = debian_binary("pngquant", "pngquant")
    if pngquant is None:
        print(f"left unquantized: {why}")
    else:
        subprocess.run([str(pngquant), "--force", "--skip-if-larger", "--strip", "--output",
                        str(args.out), "256", "--", str(args.out)], check=False)
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
