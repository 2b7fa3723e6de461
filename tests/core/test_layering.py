"""Dependencies point one way: `api -> proxy -> pool/health/strategies/providers -> types`.

The router's core never imports a provider adapter (only the modules that assemble the app may),
and providers and strategies see no more of the router than the seam they plug into. Only the
Redis store knows that Redis exists. Imports are read from the source (inside functions too),
so a lazy import cannot slip past."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Modules that put the application together: they may name concrete provider modules.
ASSEMBLY = frozenset({"router.app", "router.cli", "router.discovery", "router.report"})
# The seam providers plug into: all they may see of the router.
PROVIDER_SEAM = frozenset({"router.types", "router.errors", "router.upstream"})
STRATEGY_SEAM = frozenset({"router.types"})
REDIS_MODULES = ("redis", "valkey")
REDIS_OWNER = "router.state.redis"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def imports(path: Path) -> Iterator[str]:
    """Every module `path` imports, absolute names only (the project uses no relative ones)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            # `from router import logs` imports the module router.logs
            for alias in node.names:
                name = f"{node.module}.{alias.name}"
                if is_module(name):
                    yield name


def is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(f"{package}.")


def project_imports(path: Path, package: str) -> set[str]:
    found = {name for name in imports(path) if within(name, package)}
    # Keep the most specific names: `router` alone says nothing when `router.types` is there.
    return {name for name in found if not any(other.startswith(f"{name}.") for other in found)}


@pytest.mark.parametrize("path", modules("router"), ids=module_name)
def test_the_router_core_does_not_import_providers(path: Path) -> None:
    name = module_name(path)
    if name in ASSEMBLY:
        return
    assert not project_imports(path, "providers"), f"{name} imports a provider module"


@pytest.mark.parametrize("path", modules("providers"), ids=module_name)
def test_providers_see_only_the_seam(path: Path) -> None:
    extra = project_imports(path, "router") - PROVIDER_SEAM
    assert not extra, f"{module_name(path)} imports {sorted(extra)}"


@pytest.mark.parametrize("path", modules("strategies"), ids=module_name)
def test_strategies_see_only_the_types(path: Path) -> None:
    extra = project_imports(path, "router") - STRATEGY_SEAM
    assert not extra, f"{module_name(path)} imports {sorted(extra)}"


@pytest.mark.parametrize("path", [*modules("router"), *modules("providers"), *modules("strategies")],
                         ids=module_name)
def test_only_the_redis_store_imports_redis(path: Path) -> None:
    if module_name(path) == REDIS_OWNER:
        return
    found = [name for name in imports(path) if any(within(name, m) for m in REDIS_MODULES)]
    assert not found, f"{module_name(path)} imports {found}"


def test_the_checks_can_fail() -> None:
    # The rules above would catch what they are about: these two modules break them.
    assert project_imports(ROOT / "router" / "cli.py", "providers")
    assert "router.types" in project_imports(ROOT / "providers" / "catalog.py", "router")
