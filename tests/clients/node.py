"""Running a Node script against the router: the script is an ES module kept next to the tests,
run from inside an npm folder (tests/installs.npm_install) so that its imports resolve there.
It gets the router's address in ROUTER_URL (plus any other variables asked for) and prints one
JSON value on its last line of output, which is returned."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.installs import find_binary, npm_install

RUN_TIMEOUT_S = 120


def npm_folder(folder: str, packages: Sequence[str]) -> Path:
    """The npm folder holding `packages` (installed now if missing); skips when npm cannot."""
    found, error = npm_install(folder, packages)
    if found is None:
        pytest.skip(f"{', '.join(packages)} could not be installed with npm: {error}")
    return found


def run_node(folder: Path, script: Path, router_url: str,
             env: Mapping[str, str] | None = None) -> Any:
    node = find_binary("node")
    if node is None:
        pytest.skip("node is not on PATH")
    # A copy inside the npm folder: Node resolves bare imports from the script's own place.
    scripts = folder / "scripts"
    scripts.mkdir(exist_ok=True)
    copy = scripts / f"{script.stem}-{uuid.uuid4().hex[:8]}{script.suffix}"
    shutil.copyfile(script, copy)
    try:
        done = subprocess.run(
            [str(node), str(copy)], capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
            check=False, cwd=folder,
            env={"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"),
                 "ROUTER_URL": router_url, **(env or {})},
        )
    finally:
        copy.unlink(missing_ok=True)
    lines = done.stdout.strip().splitlines()
    assert done.returncode == 0 and lines, (
        f"{script.name} exited {done.returncode}: {done.stdout[-3000:]} {done.stderr[-3000:]}")
    return json.loads(lines[-1])
