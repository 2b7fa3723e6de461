"""Strategies and providers load from entry-point groups; a third-party package registers the same
way the built-ins do (an installed distribution's entry_points.txt)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from router.demo.upstream import FakeUpstream
from router.plugins import PluginError, load_plugins
from tests.harness import Harness, provider


def install_fake_distribution(root: Path, module: str, source: str, entry_points: str) -> None:
    (root / f"{module}.py").write_text(source)
    info = root / f"{module.replace('_', '-')}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(entry_points)


LAST = '''
class Last:
    """Always the last candidate: easy to recognise in a test."""
    def __init__(self, rng):
        pass
    def pick(self, candidates, needs):
        return candidates[-1]
'''


def test_builtins_register_through_the_entry_point_groups() -> None:
    plugins = load_plugins()
    assert {"random", "weighted", "sticky"} <= set(plugins.strategies)
    assert "openai" in plugins.providers


def test_a_third_party_strategy_is_loaded_and_routes(
    h: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_fake_distribution(tmp_path, "last_strategy", LAST,
                              "[freerouter.strategies]\nlast = last_strategy:Last\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "last" in load_plugins().strategies
    base = h.upstream("p", FakeUpstream())
    url = h.router({"providers": [provider("p", base, {"a": [], "b": [], "c": []})],
                    "routes": [{"name": "free", "strategy": "last"}]})
    for _ in range(5):
        r = httpx.post(f"{url}/v1/chat/completions",
                       json={"model": "free", "messages": [{"role": "user", "content": "x"}]})
        assert r.json()["model"] == "p/c"
    metrics = httpx.get(f"{url}/metrics").text
    assert 'freerouter_selections_total{backend="p/c",route="free",strategy="last"} 5.0' in metrics


def test_a_broken_plugin_names_itself(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install_fake_distribution(tmp_path, "broken_strategy", "raise ImportError('nope')\n",
                              "[freerouter.strategies]\nbroken = broken_strategy:X\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(PluginError, match="broken"):
        load_plugins()


def test_a_strategy_without_pick_is_rejected_at_load(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    install_fake_distribution(tmp_path, "nopick_strategy", "class N:\n    def __init__(self, rng): pass\n",
                              "[freerouter.strategies]\nnopick = nopick_strategy:N\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(PluginError, match="pick"):
        load_plugins()
