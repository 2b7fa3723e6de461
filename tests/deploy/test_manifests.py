"""The kustomize base and overlays, rendered with `kubectl kustomize` and checked offline:
schema validation, then the cross-resource rules no schema can express (selectors, ports, the
drain timing chain, hardening, secrets, autoscaling, egress)."""

from __future__ import annotations

import copy
import ipaddress
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from .manifests import DEPLOY, STATE_STORE_COMPONENT, TARGETS, Manifests

# Oldest version with the preStop `sleep` action on by default, and the newest schema shipped.
K8S_VERSIONS = ("1.30.0", "1.37.0")
# Custom resources kubernetes-validate has no schema for: it can only warn about them.
CRD_KINDS = frozenset({"ServiceMonitor", "HTTPRoute"})
EXPECTED_KINDS = frozenset({
    "ServiceAccount", "ConfigMap", "Service", "Deployment", "Ingress", "PodDisruptionBudget",
    "HorizontalPodAutoscaler", "ServiceMonitor", "NetworkPolicy",
})
# Time between the drain finishing and the SIGKILL, for the process to exit and flush logs.
GRACE_MARGIN_S = 10
PROVIDER_KEYS_SECRET = "freerouter-provider-keys"
PLACEHOLDER = re.compile(r"^(REPLACE_ME\w*|[a-z0-9-]+:REPLACE_ME\w*)(,[a-z0-9-]+:REPLACE_ME\w*)*$")
EXAMPLE_SECRET = DEPLOY / "components" / "example-secret" / "secret.yaml"
METADATA_ADDRESSES = ("169.254.169.254", "fd00:ec2::254")
PRIVATE_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "fc00::/7")
)
INGRESS_ANNOTATION = "nginx.ingress.kubernetes.io/"
# The targets that share state through the redis-state component (several pods).
SHARED_STATE_TARGETS = frozenset({"prod", "gateway"})
STATE_STORE_LABELS = {"app.kubernetes.io/name": "freerouter",
                      "app.kubernetes.io/component": STATE_STORE_COMPONENT}
ROUTER_LABELS = {"app.kubernetes.io/name": "freerouter", "app.kubernetes.io/component": "router"}
STATE_COMPONENT = DEPLOY / "components" / "redis-state"
DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def _seconds(duration: str) -> int:
    """A Gateway API duration such as "600s" or "1h30m", in seconds."""
    match = DURATION.match(duration)
    assert match is not None and duration, f"not a Gateway API duration: {duration!r}"
    hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def _matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def _pre_stop_seconds(container: dict[str, Any]) -> int:
    pre_stop = container["lifecycle"]["preStop"]
    if "sleep" in pre_stop:
        return int(pre_stop["sleep"]["seconds"])
    command = pre_stop["exec"]["command"]
    assert command[0] in {"sleep", "/bin/sleep"}, f"preStop is not a sleep: {command}"
    return int(command[1])


# --- rendering and schemas -------------------------------------------------------------------


def test_target_renders_the_full_set(manifests: Manifests) -> None:
    kinds = manifests.kinds()
    expected = set(EXPECTED_KINDS)
    if manifests.target == "gateway":
        expected = (expected - {"Ingress"}) | {"HTTPRoute"}
    assert kinds >= expected
    assert ("Ingress" in kinds) != ("HTTPRoute" in kinds), "exactly one way in per target"


def test_only_the_dev_overlay_carries_the_example_secret(manifests: Manifests) -> None:
    secrets = [s["metadata"]["name"] for s in manifests.all("Secret")]
    assert secrets == ([PROVIDER_KEYS_SECRET] if manifests.target == "dev" else [])


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_kubernetes_validate_strict_passes(
    render: Callable[[str], str], target: str, version: str, tmp_path: Path,
    kubernetes_validate: ModuleType,
) -> None:
    rendered = tmp_path / f"{target}.yaml"
    rendered.write_text(render(target))
    done = subprocess.run(
        [sys.executable, "-m", "kubernetes_validate", "--strict", "-k", version, str(rendered)],
        capture_output=True, text=True, timeout=120, check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    warned = set(re.findall(r"WARN .* schema for kind (\w+)", output))
    assert warned <= CRD_KINDS, output
    assert "ERROR" not in output


def test_strict_validation_catches_a_misspelt_field(
    manifests: Manifests, kubernetes_validate: ModuleType
) -> None:
    """The schema check above can fail: a typo that Kubernetes would silently drop is caught."""
    deployment = copy.deepcopy(manifests.one("Deployment"))
    context = deployment["spec"]["template"]["spec"]["containers"][0]["securityContext"]
    context["readOnlyRootFileSystem"] = context.pop("readOnlyRootFilesystem")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSIONS[-1], strict=True)


def test_overlays_really_change_something(render: Callable[[str], str]) -> None:
    outputs = {target: render(target) for target in TARGETS}
    assert len(set(outputs.values())) == len(TARGETS)


# --- selectors and ports ---------------------------------------------------------------------


def test_selectors_match_the_pod_labels(manifests: Manifests) -> None:
    labels = manifests.pod_labels
    deployment = manifests.one("Deployment")
    assert _matches(deployment["spec"]["selector"]["matchLabels"], labels)
    assert _matches(manifests.part("Service")["spec"]["selector"], labels)
    assert _matches(manifests.one("PodDisruptionBudget")["spec"]["selector"]["matchLabels"], labels)
    assert _matches(manifests.part("NetworkPolicy")["spec"]["podSelector"]["matchLabels"], labels)
    for spread in manifests.pod_spec.get("topologySpreadConstraints", []):
        assert _matches(spread["labelSelector"]["matchLabels"], labels)
    service_labels = manifests.part("Service")["metadata"]["labels"]
    assert _matches(manifests.one("ServiceMonitor")["spec"]["selector"]["matchLabels"],
                    service_labels)
    target_ref = manifests.one("HorizontalPodAutoscaler")["spec"]["scaleTargetRef"]
    assert (target_ref["kind"], target_ref["name"]) == ("Deployment", deployment["metadata"]["name"])


def test_probes_use_named_container_ports_and_the_contract_paths(manifests: Manifests) -> None:
    container = manifests.container
    port_names = {p["name"] for p in container["ports"]}
    port_numbers = {p["containerPort"] for p in container["ports"]}
    paths = {}
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        http_get = container[probe]["httpGet"]
        assert http_get["port"] in port_names | port_numbers, f"{probe} port {http_get['port']}"
        paths[probe] = http_get["path"]
    assert paths == {"startupProbe": "/healthz", "livenessProbe": "/healthz",
                     "readinessProbe": "/readyz"}


def test_every_port_reference_resolves(manifests: Manifests) -> None:
    container_ports = {p["name"]: p["containerPort"] for p in manifests.container["ports"]}
    service = manifests.part("Service")
    service_ports = {p["name"]: p["port"] for p in service["spec"]["ports"]}
    for port in service["spec"]["ports"]:
        assert port["targetPort"] in container_ports
    assert all(e["port"] in service_ports for e in manifests.one("ServiceMonitor")["spec"]["endpoints"])
    for ingress in manifests.all("Ingress"):
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                assert backend["name"] == service["metadata"]["name"]
                assert backend["port"]["name"] in service_ports
    for route in manifests.all("HTTPRoute"):
        for rule in route["spec"]["rules"]:
            for ref in rule["backendRefs"]:
                assert ref["name"] == service["metadata"]["name"]
                assert ref["port"] in service_ports.values()
    for policy_rule in manifests.part("NetworkPolicy")["spec"]["ingress"]:
        assert all(p["port"] in container_ports for p in policy_rule["ports"])


# --- drain timing, config and secrets ---------------------------------------------------------


def test_grace_period_covers_pre_stop_delay_and_drain(manifests: Manifests) -> None:
    server = manifests.config["server"]
    pre_stop = _pre_stop_seconds(manifests.container)
    needed = pre_stop + server["shutdown_delay_s"] + server["drain_timeout_s"] + GRACE_MARGIN_S
    grace = manifests.pod_spec["terminationGracePeriodSeconds"]
    assert grace >= needed, (
        f"{manifests.target}: grace {grace}s < preStop {pre_stop} + shutdown_delay_s "
        f"{server['shutdown_delay_s']} + drain_timeout_s {server['drain_timeout_s']} + margin"
    )


def test_proxies_outlast_the_longest_stream(manifests: Manifests) -> None:
    """Ingress timeouts count silence between reads; Gateway API ones the whole response."""
    drain = manifests.config["server"]["drain_timeout_s"]
    slowest_first_byte = max(p.get("timeout_s", 0) for p in manifests.config["providers"])
    for ingress in manifests.all("Ingress"):
        notes = ingress["metadata"]["annotations"]
        assert notes[INGRESS_ANNOTATION + "proxy-buffering"] == "off"
        assert notes[INGRESS_ANNOTATION + "proxy-request-buffering"] == "off"
        for timeout in ("proxy-read-timeout", "proxy-send-timeout"):
            assert int(notes[INGRESS_ANNOTATION + timeout]) > slowest_first_byte
        body_mib = int(notes[INGRESS_ANNOTATION + "proxy-body-size"].removesuffix("m"))
        assert body_mib * 1024 * 1024 == manifests.config["server"]["max_body_bytes"]
        paths = [p["path"] for r in ingress["spec"]["rules"] for p in r["http"]["paths"]]
        assert paths == ["/v1"], "only the API is exposed; /metrics and /status stay internal"
    for route in manifests.all("HTTPRoute"):
        for rule in route["spec"]["rules"]:
            assert _seconds(rule["timeouts"]["request"]) > drain
            assert _seconds(rule["timeouts"]["backendRequest"]) > drain
            assert [m["path"]["value"] for m in rule["matches"]] == ["/v1"]


def test_config_is_mounted_read_only_from_a_hashed_config_map(manifests: Manifests) -> None:
    name = manifests.config_map["metadata"]["name"]
    assert re.fullmatch(r"freerouter-config-[a-z0-9]{10}", name), "no content hash in the name"
    mounts = {m["mountPath"]: m for m in manifests.container["volumeMounts"]}
    assert mounts["/etc/freerouter"]["readOnly"] is True
    env = {e["name"]: e.get("value") for e in manifests.container["env"]}
    assert env["FREEROUTER_CONFIG"] == "/etc/freerouter/config.toml"


def test_a_config_change_rolls_the_pods(kubectl: Path, tmp_path: Path) -> None:
    """The generator's hash is the config checksum: edit config.toml, get a new pod template."""
    copy_root = tmp_path / "deploy"
    shutil.copytree(DEPLOY, copy_root)

    def pod_template() -> Any:
        done = subprocess.run(
            [str(kubectl), "kustomize", str(copy_root)], capture_output=True, text=True,
            timeout=120, check=True, env={**os.environ, "KUBECONFIG": os.devnull},
        )
        rendered = Manifests.parse("copy", yaml.safe_load_all(done.stdout))
        return rendered.one("Deployment")["spec"]["template"]

    before = pod_template()
    config = copy_root / "base" / "config.toml"
    config.write_text(config.read_text().replace("probe_interval_s = 30", "probe_interval_s = 31"))
    after = pod_template()
    assert before != after


def test_provider_keys_come_from_the_secret(manifests: Manifests) -> None:
    refs = [e["secretRef"]["name"] for e in manifests.container["envFrom"] if "secretRef" in e]
    assert refs == [PROVIDER_KEYS_SECRET]
    assert all("valueFrom" not in e or "secretKeyRef" in e["valueFrom"]
               for e in manifests.container["env"])
    for env in manifests.container["env"]:
        assert "KEY" not in env["name"] or "value" not in env, f"literal key in {env['name']}"


def test_secret_example_holds_only_placeholders(manifests: Manifests) -> None:
    example = yaml.safe_load(EXAMPLE_SECRET.read_text())
    for secret in [example, *manifests.all("Secret")]:
        values = {**secret.get("stringData", {}), **secret.get("data", {})}
        assert values, "an example with no keys documents nothing"
        for key, value in values.items():
            assert PLACEHOLDER.fullmatch(value), f"{key} looks like a real value"
        api_key_envs = {p["api_key_env"] for p in manifests.config["providers"]}
        assert api_key_envs <= set(values), "the example must show every key the config reads"


def test_the_shipped_config_is_valid_for_the_router(manifests: Manifests, tmp_path: Path) -> None:
    """`freerouter check` on the config the pods will mount, with the example Secret's values
    as the environment envFrom would give them."""
    config = tmp_path / "config.toml"
    config.write_text(manifests.config_map["data"]["config.toml"])
    keys = yaml.safe_load(EXAMPLE_SECRET.read_text())["stringData"]
    env = dict(keys)
    for var in manifests.container["env"]:  # in order: $(NAME) names an earlier one
        if "valueFrom" in var:
            env[var["name"]] = "REPLACE_ME"
        else:
            env[var["name"]] = re.sub(r"\$\((\w+)\)", lambda m: env.get(m[1], ""), var["value"])
    done = subprocess.run(
        [sys.executable, "-m", "router", "check", "--config", str(config)],
        capture_output=True, text=True, timeout=120, check=False, env={**os.environ, **env},
    )
    assert done.returncode == 0, done.stdout + done.stderr


# --- hardening and resources -----------------------------------------------------------------


def test_security_context_is_restricted(manifests: Manifests) -> None:
    pod = manifests.pod_spec
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert pod["automountServiceAccountToken"] is False
    assert not any(pod.get(k) for k in ("hostNetwork", "hostPID", "hostIPC"))
    context = manifests.container["securityContext"]
    assert context["allowPrivilegeEscalation"] is False
    assert context["readOnlyRootFilesystem"] is True
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context.get("privileged", False) is False
    # A read-only root needs somewhere writable for Python's tempfile.
    tmp_volume = {m["mountPath"]: m["name"] for m in manifests.container["volumeMounts"]}["/tmp"]
    assert any(v["name"] == tmp_volume and "emptyDir" in v for v in pod["volumes"])


def test_resources_request_cpu_but_never_limit_it(manifests: Manifests) -> None:
    resources = manifests.container["resources"]
    assert {"cpu", "memory"} <= set(resources["requests"])
    assert "cpu" not in resources.get("limits", {}), "CPU throttling stalls every open stream"
    assert "memory" in resources["limits"]


# --- scaling and disruption ------------------------------------------------------------------


def test_the_autoscaler_alone_owns_the_replica_count(manifests: Manifests) -> None:
    hpa = manifests.one("HorizontalPodAutoscaler")["spec"]
    assert "replicas" not in manifests.one("Deployment")["spec"]
    assert hpa["minReplicas"] <= hpa["maxReplicas"]
    scale_down = hpa["behavior"]["scaleDown"]
    assert scale_down["stabilizationWindowSeconds"] >= 300
    assert all(p["type"] == "Pods" and p["value"] == 1 for p in scale_down["policies"])
    if manifests.target in {"base", "prod", "gateway"}:
        assert hpa["minReplicas"] >= 2, "one pod cannot roll or drain without an outage"


def test_rollouts_and_evictions_keep_capacity(manifests: Manifests) -> None:
    rolling = manifests.one("Deployment")["spec"]["strategy"]["rollingUpdate"]
    assert rolling["maxUnavailable"] == 0
    assert manifests.one("PodDisruptionBudget")["spec"]["maxUnavailable"] == 1


# --- egress ----------------------------------------------------------------------------------


def _egress_allows(policy: dict[str, Any], address: str, port: int) -> bool:
    """Whether the policy's ipBlock egress rules admit TCP to address:port."""
    ip = ipaddress.ip_address(address)
    for rule in policy["spec"]["egress"]:
        ports = {p["port"] for p in rule.get("ports", [])}
        if ports and port not in ports:
            continue
        for peer in rule.get("to", [{"ipBlock": {"cidr": "0.0.0.0/0"}}, {"ipBlock": {"cidr": "::/0"}}]):
            block = peer.get("ipBlock")
            if block is None:
                continue
            cidr = ipaddress.ip_network(block["cidr"])
            excepted = any(ip in ipaddress.ip_network(e) for e in block.get("except", []))
            if ip.version == cidr.version and ip in cidr and not excepted:
                return True
    return False


def test_egress_is_dns_and_https_only(manifests: Manifests) -> None:
    policy = manifests.part("NetworkPolicy")
    assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    for rule in policy["spec"]["egress"]:
        assert rule.get("to"), "an egress rule without peers allows every destination"
        if rule["to"] == [{"podSelector": {"matchLabels": STATE_STORE_LABELS}}]:
            assert [p["port"] for p in rule["ports"]] == [6379]  # the state store, and only it
            continue
        assert {p["port"] for p in rule["ports"]} <= {53, 443}
    assert _egress_allows(policy, "104.18.2.161", 443)
    assert not _egress_allows(policy, "104.18.2.161", 80)


@pytest.mark.parametrize("address", METADATA_ADDRESSES)
def test_egress_to_the_metadata_service_is_blocked(manifests: Manifests, address: str) -> None:
    assert not _egress_allows(manifests.part("NetworkPolicy"), address, 443)


@given(network=st.sampled_from(PRIVATE_NETWORKS), offset=st.integers(min_value=0))
def test_egress_to_private_ranges_is_blocked(
    render: Callable[[str], str], network: ipaddress.IPv4Network | ipaddress.IPv6Network,
    offset: int,
) -> None:
    policy = Manifests.parse("base", yaml.safe_load_all(render("base"))).part("NetworkPolicy")
    address = network[offset % network.num_addresses]
    assert not _egress_allows(policy, str(address), 443)


# --- the shared state store (components/redis-state) ------------------------------------------


def test_several_pods_share_state_through_the_store(manifests: Manifests) -> None:
    shared = manifests.target in SHARED_STATE_TARGETS
    assert manifests.has(STATE_STORE_COMPONENT) == shared
    state = manifests.config.get("state", {})
    assert state.get("backend", "memory") == ("redis" if shared else "memory")
    if not shared:
        return
    env = {e["name"]: e for e in manifests.container["env"]}
    url = env[state["url_env"]]["value"]
    assert url == "redis://:$(FREEROUTER_REDIS_PASSWORD)@freerouter-redis:6379/0"
    password = env["FREEROUTER_REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"]
    assert password == {"name": "freerouter-redis", "key": "password"}
    names = list(env)  # the kubelet expands $(VAR) only from variables defined before it
    assert names.index("FREEROUTER_REDIS_PASSWORD") < names.index(state["url_env"])


def test_the_component_config_is_the_base_config_plus_state() -> None:
    base = tomllib.loads((DEPLOY / "base" / "config.toml").read_text())
    shared = tomllib.loads((STATE_COMPONENT / "config.toml").read_text())
    assert shared.pop("state")["backend"] == "redis"
    assert shared == base, "components/redis-state/config.toml drifted from base/config.toml"


def _store(manifests: Manifests) -> dict[str, Any]:
    return manifests.part("StatefulSet", STATE_STORE_COMPONENT)


@pytest.mark.parametrize("target", sorted(SHARED_STATE_TARGETS), indirect=True)
def test_the_store_is_one_pod_that_persists_nothing(manifests: Manifests) -> None:
    store = _store(manifests)["spec"]
    assert store["replicas"] == 1 and "volumeClaimTemplates" not in store
    (container,) = store["template"]["spec"]["containers"]
    args = container["args"]
    assert args[args.index("--save") + 1] == "" and args[args.index("--appendonly") + 1] == "no"
    assert args[args.index("--maxmemory-policy") + 1] == "noeviction"
    assert args[args.index("--requirepass") + 1] == "$(REDIS_PASSWORD)"
    image = container["image"]
    assert ":" in image and not image.endswith(":latest"), "pin the store's image"
    assert "memory" in container["resources"]["limits"]
    assert "cpu" not in container["resources"].get("limits", {})


@pytest.mark.parametrize("target", sorted(SHARED_STATE_TARGETS), indirect=True)
def test_the_store_pod_is_restricted(manifests: Manifests) -> None:
    pod = _store(manifests)["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert pod["automountServiceAccountToken"] is False
    (container,) = pod["containers"]
    context = container["securityContext"]
    assert context["allowPrivilegeEscalation"] is False
    assert context["readOnlyRootFilesystem"] is True
    assert context["capabilities"] == {"drop": ["ALL"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert any(v["name"] == mounts["/data"] and "emptyDir" in v for v in pod["volumes"])


@pytest.mark.parametrize("target", sorted(SHARED_STATE_TARGETS), indirect=True)
def test_only_the_router_pods_reach_the_store(manifests: Manifests) -> None:
    store = _store(manifests)
    labels = store["spec"]["template"]["metadata"]["labels"]
    assert _matches(store["spec"]["selector"]["matchLabels"], labels)
    assert not _matches(ROUTER_LABELS, labels) and not _matches(labels, manifests.pod_labels)
    service = manifests.part("Service", STATE_STORE_COMPONENT)
    assert _matches(service["spec"]["selector"], labels)
    assert service["metadata"]["name"] == store["spec"]["serviceName"] == "freerouter-redis"
    (container,) = store["spec"]["template"]["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert [(p["port"], ports[p["targetPort"]]) for p in service["spec"]["ports"]] == [(6379, 6379)]
    policy = manifests.part("NetworkPolicy", STATE_STORE_COMPONENT)["spec"]
    assert _matches(policy["podSelector"]["matchLabels"], labels)
    assert set(policy["policyTypes"]) == {"Ingress", "Egress"} and policy["egress"] == []
    (rule,) = policy["ingress"]
    assert rule["from"] == [{"podSelector": {"matchLabels": manifests.pod_labels}}]
    assert [p["port"] for p in rule["ports"]] == ["redis"]
    # ...and the routers may reach it (their egress is otherwise DNS and public HTTPS).
    router_egress = manifests.part("NetworkPolicy")["spec"]["egress"]
    assert {"to": [{"podSelector": {"matchLabels": STATE_STORE_LABELS}}],
            "ports": [{"port": 6379, "protocol": "TCP"}]} in router_egress


# --- the plain-nginx template ------------------------------------------------------------------

NGINX_TEMPLATE = DEPLOY / "nginx" / "freerouter.conf.template"
# ingress-nginx annotation -> the nginx directive it becomes, and how the value is written there.
ANNOTATION_DIRECTIVES = {
    "proxy-buffering": ("proxy_buffering", "{}"),
    "proxy-request-buffering": ("proxy_request_buffering", "{}"),
    "proxy-http-version": ("proxy_http_version", "{}"),
    "proxy-read-timeout": ("proxy_read_timeout", "{}s"),
    "proxy-send-timeout": ("proxy_send_timeout", "{}s"),
    "proxy-connect-timeout": ("proxy_connect_timeout", "{}s"),
    "proxy-body-size": ("client_max_body_size", "{}"),
    "proxy-next-upstream": ("proxy_next_upstream", "{}"),
    "proxy-next-upstream-tries": ("proxy_next_upstream_tries", "{}"),
}


def test_the_nginx_template_proxies_like_the_ingress(render: Callable[[str], str]) -> None:
    """The replica test's nginx must be configured as the production ingress is, or it proves
    nothing about production."""
    ingress = Manifests.parse("base", yaml.safe_load_all(render("base"))).one("Ingress")
    annotations = ingress["metadata"]["annotations"]
    directives = dict(
        re.findall(r"^\s*(\w+)\s+([^;]+);", NGINX_TEMPLATE.read_text(), flags=re.MULTILINE)
    )
    for annotation, (directive, shape) in ANNOTATION_DIRECTIVES.items():
        assert directives[directive] == shape.format(annotations[INGRESS_ANNOTATION + annotation])
