"""A rendered kustomize target as something tests can query: resources by kind, the router
container, and the config.toml the ConfigMap carries."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
# The base (through deploy/kustomization.yaml) and every overlay.
TARGETS = ("base", "dev", "prod", "gateway")

Resource = dict[str, Any]

CONFIG_MAP_PREFIX = "freerouter-config"
COMPONENT_LABEL = "app.kubernetes.io/component"
ROUTER_COMPONENT = "router"
STATE_STORE_COMPONENT = "state-store"
CONFIG_KEY = "config.toml"
ROUTER_CONTAINER = "router"


@dataclass(frozen=True, slots=True)
class Manifests:
    target: str
    resources: tuple[Resource, ...]

    @classmethod
    def parse(cls, target: str, documents: Iterable[Any]) -> Manifests:
        return cls(target, tuple(doc for doc in documents if isinstance(doc, dict)))

    def all(self, kind: str) -> list[Resource]:
        return [r for r in self.resources if r.get("kind") == kind]

    def one(self, kind: str) -> Resource:
        found = self.all(kind)
        assert len(found) == 1, f"{self.target}: expected one {kind}, found {len(found)}"
        return found[0]

    def part(self, kind: str, component: str = ROUTER_COMPONENT) -> Resource:
        """The one `kind` of the router (or of another component: the state store)."""
        found = [r for r in self.all(kind)
                 if r["metadata"].get("labels", {}).get(COMPONENT_LABEL) == component]
        assert len(found) == 1, f"{self.target}: expected one {component} {kind}, found {len(found)}"
        return found[0]

    def has(self, component: str) -> bool:
        return any(r["metadata"].get("labels", {}).get(COMPONENT_LABEL) == component
                   for r in self.resources)

    def kinds(self) -> set[str]:
        return {str(r.get("kind")) for r in self.resources}

    @property
    def pod_spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = self.one("Deployment")["spec"]["template"]["spec"]
        return spec

    @property
    def pod_labels(self) -> dict[str, str]:
        labels: dict[str, str] = self.one("Deployment")["spec"]["template"]["metadata"]["labels"]
        return labels

    @property
    def container(self) -> dict[str, Any]:
        by_name = {c["name"]: c for c in self.pod_spec["containers"]}
        container: dict[str, Any] = by_name[ROUTER_CONTAINER]
        return container

    @property
    def config_map(self) -> Resource:
        """The ConfigMap the pod mounts (its generated name carries the content hash)."""
        volume_maps = {
            v["configMap"]["name"] for v in self.pod_spec["volumes"] if "configMap" in v
        }
        mounted = [r for r in self.all("ConfigMap") if r["metadata"]["name"] in volume_maps]
        assert len(mounted) == 1, f"{self.target}: the pod mounts {sorted(volume_maps)}"
        return mounted[0]

    @property
    def config(self) -> dict[str, Any]:
        return tomllib.loads(self.config_map["data"][CONFIG_KEY])
