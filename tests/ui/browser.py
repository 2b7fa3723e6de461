"""Debian's chromium under Playwright: `playwright install` would download a browser build, which
cannot be had here, so the system's chromium is installed (apt) and launched by path."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Browser, Playwright

from tests.installs import debian_binary

# Keep the browser from phoning home (updates, sync, field trials): a test must see only the
# requests its page makes, and none may leave the machine.
FLAGS = ("--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", "--disable-quic", "--no-default-browser-check",
         "--disable-features=Translate,OptimizationHints,MediaRouter")


def chromium() -> tuple[Path | None, str | None]:
    """The chromium binary, installed from Debian when missing; (path, why not)."""
    return debian_binary("chromium", "chromium")


def launch(playwright: Playwright, executable: Path) -> Browser:
    # Playwright passes --no-sandbox itself (its default chromiumSandbox=False), which running
    # as root in CI needs.
    return playwright.chromium.launch(executable_path=str(executable), headless=True,
                                      args=list(FLAGS))
