"""Installing the real components the tests drive (Debian packages, PyPI wheels, npm packages),
once per machine, each behind a file lock so that parallel test runs never install the same thing
at the same time. Every function returns None on success, or the reason it failed, so a fixture
can skip with the installer's own words when a component truly cannot be had."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

# apt, pip and npm may wait on a lock held by another job; a few minutes is plenty on a CI runner.
INSTALL_TIMEOUT_S = 600
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# npm packages live outside the repository, reused by later runs.
CACHE = Path(os.environ.get("FREEROUTER_TEST_CACHE", Path.home() / ".cache" / "freerouter-tests"))


@contextmanager
def _locked(name: str) -> Iterator[None]:
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f".{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run_install(step: Sequence[str], env: dict[str, str] | None = None,
                cwd: Path | None = None) -> str | None:
    """Run one install command; the reason it failed, or None."""
    try:
        done = subprocess.run(list(step), capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S,
                              check=False, env=env, cwd=cwd)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{' '.join(step)}: {exc}"
    if done.returncode != 0:
        return f"{' '.join(step)} exited {done.returncode}: {done.stderr.strip()[-800:]}"
    return None


def find_binary(name: str) -> Path | None:
    found = shutil.which(name, path=os.pathsep.join((os.environ.get("PATH", ""), SYSTEM_PATH)))
    return Path(found) if found is not None else None


def apt_install(*packages: str) -> str | None:
    """Install Debian packages (apt-get update first); the error text on failure."""
    if shutil.which("apt-get", path=SYSTEM_PATH) is None:
        return "apt-get is not available"
    env = {"DEBIAN_FRONTEND": "noninteractive", "PATH": SYSTEM_PATH}
    with _locked("apt"):
        for step in (
            ["apt-get", "update"],
            # Another job's apt may hold the dpkg lock; wait for it rather than fail.
            ["apt-get", "install", "-y", "--no-install-recommends", "-o",
             "DPkg::Lock::Timeout=300", *packages],
        ):
            error = run_install(step, env)
            if error is not None:
                return error
    return None


def debian_binary(binary: str, package: str) -> tuple[Path | None, str | None]:
    """`binary` from PATH, else from Debian's `package` installed now; (path, why not)."""
    found = find_binary(binary)
    if found is not None:
        return found, None
    error = apt_install(package)
    found = find_binary(binary)
    if found is None:
        return None, f"{binary} missing and `apt-get install {package}` failed: {error}"
    return found, None


def pip_install(*requirements: str) -> str | None:
    """Install into the running interpreter's environment (the test venv)."""
    with _locked("pip"):
        return run_install([sys.executable, "-m", "pip", "install", "--quiet", *requirements])


def venv_install(folder: str, requirements: Sequence[str]) -> tuple[Path | None, str | None]:
    """A virtualenv of its own in CACHE/folder holding `requirements`, for a client whose pins
    would change the test venv's packages (instructor holds openai back); made once, reused by
    later runs. Returns its python (or None) and the reason pip or venv gave."""
    target = CACHE / folder
    python = target / "bin" / "python"
    wanted = "\n".join(requirements)
    marker = target / ".installed"
    with _locked(f"venv-{folder}"):
        if python.exists() and marker.exists() and marker.read_text() == wanted:
            return python, None
        if not python.exists():
            error = run_install([sys.executable, "-m", "venv", str(target)])
            if error is not None:
                return None, error
        error = run_install([str(python), "-m", "pip", "install", "--quiet", *requirements])
        if error is not None:
            return None, error
        marker.write_text(wanted)
    return python, None


def npm_install(folder: str, packages: Sequence[str]) -> tuple[Path | None, str | None]:
    """npm packages into CACHE/folder (installed once; later runs reuse them). Returns the
    folder (its node_modules holds them) or None and the reason npm gave."""
    npm = find_binary("npm")
    if npm is None:
        return None, "npm is not on PATH"
    target = CACHE / folder
    with _locked(f"npm-{folder}"):
        missing = [p for p in packages if not (target / "node_modules" / _bare(p)).is_dir()]
        if not missing:
            return target, None
        target.mkdir(parents=True, exist_ok=True)
        manifest = target / "package.json"
        if not manifest.exists():
            manifest.write_text(json.dumps({"name": f"freerouter-test-{folder}", "private": True}))
        error = run_install([str(npm), "install", "--no-audit", "--no-fund", *missing], cwd=target)
        if error is not None:
            return None, error
    return target, None


def _bare(package: str) -> str:
    """`@scope/name@1.2` -> `@scope/name`; `name@1.2` -> `name`."""
    if package.startswith("@"):
        scope, _, rest = package[1:].partition("/")
        return f"@{scope}/{rest.split('@', 1)[0]}"
    return package.split("@", 1)[0]
