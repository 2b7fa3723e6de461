"""deploy/Dockerfile, checked statically: there is no Docker engine on the CI machines, so the
image cannot be built here. The file is parsed into stages and the properties the Deployment
relies on are asserted (non-root numeric user, no toolchain in the final stage, exec-form
command so SIGTERM reaches Python, ...)."""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
import yaml

from .manifests import DEPLOY, ROOT, Manifests

DOCKERFILE = DEPLOY / "Dockerfile"
DOCKERIGNORE = DEPLOY / "Dockerfile.dockerignore"
BUILD_TOOLS = re.compile(r"\b(apt-get|apk|gcc|g\+\+|make|build-essential|pip install)\b")
RUN_AS = "10001"


@dataclass(frozen=True, slots=True)
class Instruction:
    keyword: str
    arguments: str

    def exec_form(self) -> list[str]:
        """The JSON-array form of CMD/ENTRYPOINT; an empty list for shell form."""
        try:
            parsed = json.loads(self.arguments)
        except json.JSONDecodeError:
            return []
        return [str(part) for part in parsed] if isinstance(parsed, list) else []


@dataclass(frozen=True, slots=True)
class Stage:
    base: str
    name: str
    instructions: tuple[Instruction, ...]

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction:
        found = self.all(keyword)
        assert found, f"stage {self.name} has no {keyword}"
        return found[-1]

    def env(self) -> dict[str, str]:
        pairs: dict[str, str] = {}
        for instruction in self.all("ENV"):
            for word in shlex.split(instruction.arguments):
                key, _, value = word.partition("=")
                pairs[key] = value
        return pairs


def _logical_lines(text: str) -> Iterator[str]:
    """Dockerfile lines with comments dropped and backslash continuations joined."""
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#") or not line:
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        yield pending + line
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"


def _stages(text: str) -> tuple[dict[str, str], list[Stage]]:
    """Global ARG defaults and the build stages, in order."""
    args: dict[str, str] = {}
    stages: list[Stage] = []
    current: list[Instruction] = []
    header: tuple[str, str] | None = None
    for line in _logical_lines(text):
        keyword, _, arguments = line.partition(" ")
        instruction = Instruction(keyword.upper(), arguments.strip())
        if instruction.keyword == "FROM":
            if header is not None:
                stages.append(Stage(*header, tuple(current)))
            words = instruction.arguments.split()
            base = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], words[0])
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else str(len(stages))
            header, current = (base, name), []
        elif header is None and instruction.keyword == "ARG":
            key, _, value = instruction.arguments.partition("=")
            args[key] = value
        else:
            current.append(instruction)
    assert header is not None, "no FROM"
    stages.append(Stage(*header, tuple(current)))
    return args, stages


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return _stages(DOCKERFILE.read_text())[1]


@pytest.fixture(scope="module")
def final(stages: list[Stage]) -> Stage:
    return stages[-1]


@pytest.fixture(scope="module")
def base_deployment(render: Callable[[str], str]) -> Manifests:
    return Manifests.parse("base", yaml.safe_load_all(render("base")))


def test_it_is_a_multi_stage_build_on_python_3_11_slim(stages: list[Stage]) -> None:
    assert len(stages) >= 2
    assert all(re.fullmatch(r"python:3\.11-slim(-\w+)?", s.base) for s in stages)


def test_the_final_stage_has_no_build_tools(final: Stage) -> None:
    for run in final.all("RUN"):
        assert not BUILD_TOOLS.search(run.arguments), f"build tooling in the final stage: {run}"
    copies = [c.arguments for c in final.all("COPY")]
    assert copies and all(c.startswith("--from=") for c in copies), "only built artefacts"


def test_the_final_stage_runs_as_the_numeric_non_root_user(
    final: Stage, base_deployment: Manifests
) -> None:
    user = final.last("USER").arguments
    uid, _, gid = user.partition(":")
    # runAsNonRoot can only be verified by the kubelet against a number, not a name.
    assert uid == RUN_AS and gid == RUN_AS
    assert str(base_deployment.pod_spec["securityContext"]["runAsUser"]) == uid
    assert str(base_deployment.pod_spec["securityContext"]["runAsGroup"]) == gid
    assert [i.keyword for i in final.instructions].index("USER") > max(
        n for n, i in enumerate(final.instructions) if i.keyword in {"RUN", "COPY"}
    ), "nothing may run as root after USER is set"


def test_python_never_writes_to_the_read_only_root(final: Stage, stages: list[Stage]) -> None:
    env = final.env()
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["HOME"].startswith("/tmp") and env["TMPDIR"] == "/tmp"
    assert any("compileall" in r.arguments for s in stages[:-1] for r in s.all("RUN"))


def test_the_command_serves_on_all_interfaces_in_exec_form(
    final: Stage, base_deployment: Manifests
) -> None:
    entrypoint = final.last("ENTRYPOINT").exec_form()
    command = final.last("CMD").exec_form()
    # Shell form would make /bin/sh PID 1, which swallows SIGTERM: the drain would never start.
    assert entrypoint == ["freerouter"] and command
    assert command[:1] == ["serve"] and command[command.index("--host") + 1] == "0.0.0.0"
    assert base_deployment.container["args"] == command
    assert final.last("STOPSIGNAL").arguments == "SIGTERM"


def test_the_exposed_port_is_the_container_port(final: Stage, base_deployment: Manifests) -> None:
    exposed = {int(p.split("/")[0]) for e in final.all("EXPOSE") for p in e.arguments.split()}
    assert exposed == {p["containerPort"] for p in base_deployment.container["ports"]}


def test_the_build_copies_every_package_the_project_ships(stages: list[Stage]) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = {p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    copied = {c.arguments.split()[0] for s in stages[:-1] for c in s.all("COPY")}
    assert packages <= copied
    ignore = DOCKERIGNORE.read_text().splitlines()
    # Everything is excluded first, then only what the build copies is let back in.
    assert "*" in ignore
    assert {f"!{p}/" for p in packages} <= set(ignore[ignore.index("*") :])
    assert {"!pyproject.toml", "!README.md"} <= set(ignore)
