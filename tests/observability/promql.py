"""What the observability artefacts ask of Prometheus: every PromQL expression of the Grafana
dashboard and the alert rules, the metric names and labels each one uses, and the metrics the
router's code exposes. Shared by the static and the live tests."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families

from router.metrics import Metrics
from router.types import Api, FailureReason

# Series Prometheus itself writes for every target, usable beside the router's own.
SCRAPE_SERIES = frozenset({"up"})
# Labels Prometheus attaches to every scraped series, and the histogram bucket label.
TARGET_LABELS = frozenset({"job", "instance"})
BUCKET_LABEL = "le"

# The series client_python exposes for one metric family, by family type.
SERIES_SUFFIXES: Mapping[str, tuple[str, ...]] = {
    "counter": ("_total",),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count"),
    "summary": ("", "_sum", "_count"),
}
CREATED = "_created"
# What a README/INTERFACE metrics table calls a family: counters by their `_total` series.
DOCUMENTED_SUFFIX: Mapping[str, str] = {"counter": "_total", "gauge": "", "histogram": "",
                                        "summary": ""}


@dataclass(frozen=True, slots=True)
class Query:
    where: str  # "panel 'Request rate' A" or "alert FreerouterBackendDown"
    expr: str


@dataclass(frozen=True, slots=True)
class LabelValuesQuery:
    """A Grafana `label_values(metric{matchers}, label)` variable query."""

    variable: str
    metric: str
    matchers: str  # "" or "{...}"
    label: str


@dataclass(frozen=True, slots=True)
class Family:
    name: str  # as registered: counters without `_total`
    type: str
    labels: frozenset[str]

    @property
    def series(self) -> frozenset[str]:
        return frozenset(self.name + suffix for suffix in SERIES_SUFFIXES[self.type])

    @property
    def documented_name(self) -> str:
        return self.name + DOCUMENTED_SUFFIX[self.type]


# --- the artefacts ---------------------------------------------------------------------------

def load_dashboard(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


def panels(dashboard: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel that shows data, including those nested in collapsed rows."""
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            yield from panel.get("panels", [])
        else:
            yield panel


def dashboard_queries(dashboard: Mapping[str, Any]) -> list[Query]:
    return [
        Query(f"panel {panel['title']!r} {target['refId']}", target["expr"])
        for panel in panels(dashboard)
        for target in panel["targets"]
    ]


_LABEL_VALUES = re.compile(
    r"^label_values\(\s*(?P<metric>[a-zA-Z_:][\w:]*)(?P<matchers>\{[^}]*\})?\s*,"
    r"\s*(?P<label>\w+)\s*\)$"
)


def variable_queries(dashboard: Mapping[str, Any]) -> list[LabelValuesQuery]:
    found = []
    for variable in dashboard["templating"]["list"]:
        if variable["type"] != "query":
            continue
        query = variable["query"]
        text = query["query"] if isinstance(query, dict) else query
        match = _LABEL_VALUES.match(text.strip())
        if match is None:
            raise ValueError(f"variable {variable['name']}: not a label_values() query: {text}")
        found.append(LabelValuesQuery(variable["name"], match["metric"],
                                      match["matchers"] or "", match["label"]))
    return found


def alert_queries(path: Path) -> list[Query]:
    loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [
        Query(f"{'alert' if 'alert' in rule else 'record'} {rule.get('alert') or rule['record']}",
              rule["expr"])
        for group in loaded["groups"]
        for rule in group["rules"]
    ]


# --- PromQL, read just far enough to name its metrics and labels ------------------------------

_STRINGS = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_TOKENS = re.compile(r"(?P<number>\d[\w.]*)|(?P<name>[a-zA-Z_:][\w:]*)(?P<call>\s*\()?")
_KEYWORDS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right", "and",
                       "or", "unless", "bool", "offset", "inf", "nan"})
_SELECTOR = re.compile(r"(?P<metric>[a-zA-Z_:][\w:]*)?\s*\{(?P<matchers>[^}]*)\}")
_MATCHER_LABEL = re.compile(r"(?P<label>[a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)")


def metric_names(expr: str) -> frozenset[str]:
    """The metric names an expression selects (functions, keywords and labels left out)."""
    bare = _GROUPING.sub(" ", _RANGES.sub(" ", _MATCHERS.sub(" ", _STRINGS.sub('""', expr))))
    return frozenset(
        token["name"]
        for token in _TOKENS.finditer(bare)
        if token["name"] and not token["call"] and token["name"] not in _KEYWORDS
    )


def grouping_labels(expr: str) -> frozenset[str]:
    """Labels named in by/without/on/ignoring/group_x clauses."""
    return frozenset(
        label.strip()
        for clause in _GROUPING.finditer(_STRINGS.sub('""', expr))
        for label in clause[1].split(",")
        if label.strip()
    )


def matcher_labels(expr: str) -> dict[str, frozenset[str]]:
    """For each metric selected with matchers, the label names those matchers use."""
    found: dict[str, set[str]] = {}
    for selector in _SELECTOR.finditer(_STRINGS.sub('""', expr)):
        labels = {m["label"] for m in _MATCHER_LABEL.finditer(selector["matchers"])}
        found.setdefault(selector["metric"] or "", set()).update(labels - {"__name__"})
    return {metric: frozenset(labels) for metric, labels in found.items()}


_THRESHOLD = re.compile(r"^(?P<signal>.*\S)\s*(?P<op>==|!=|>=|<=|>|<)\s*(?P<value>[-+.\w]+)\s*$",
                        re.DOTALL)


def alert_signal(expr: str) -> str:
    """`<signal> <op> <threshold>` -> the signal, which has data whenever the metrics do."""
    match = _THRESHOLD.match(expr.strip())
    if match is None:
        raise ValueError(f"alert expression is not `<signal> <op> <threshold>`: {expr}")
    return match["signal"]


# Grafana's template variables, as the live test resolves them: every value selected.
LIVE_SUBSTITUTIONS: Mapping[str, str] = {
    "$__rate_interval": "1m",
    "${datasource}": "",
    "$job": ".*",
    "$route": ".*",
    "$backend": ".*",
}


def resolve_variables(expr: str) -> str:
    for variable, value in LIVE_SUBSTITUTIONS.items():
        expr = expr.replace(variable, value)
    if "$" in expr:
        raise ValueError(f"unresolved template variable in {expr}")
    return expr


# --- the code's metrics ------------------------------------------------------------------------

def drive_every_event(metrics: Metrics) -> None:
    """One call of each event method, so every family has samples (and thus label names)."""
    backend = "sim/steady"
    metrics.request_done(Api.OPENAI, "free", 200, 0.25)
    metrics.selected("free", backend, "random")
    metrics.failed(backend, FailureReason.TIMEOUT)
    metrics.fell_back("free")
    metrics.first_byte(backend, 0.1)
    metrics.first_token(backend, 0.2)
    metrics.health(backend, 0.9, True)
    metrics.probed(backend, "ok")
    metrics.used_tokens(backend, 10, 20)
    metrics.inflight_change(backend, 1)
    metrics.budget_left(backend, "rpm", 28)
    metrics.state_store(True)
    metrics.state_store_failed("reserve")


def code_families() -> dict[str, Family]:
    """Every freerouter_* family router.metrics.Metrics registers, with its label names (the
    standard process_* and python_* collectors are prometheus-client's, not ours)."""
    metrics = Metrics()
    drive_every_event(metrics)
    families = {}
    for parsed in text_string_to_metric_families(metrics.exposition().decode()):
        labels = frozenset(
            label for sample in parsed.samples for label in sample.labels
        ) - {BUCKET_LABEL}
        if parsed.name.startswith("freerouter_"):
            families[parsed.name] = Family(parsed.name, parsed.type, labels)
    # The text format exposes each counter's and histogram's creation time as a separate gauge
    # family `<name>_created`; it is bookkeeping, not a metric anyone documents or charts.
    return {
        name: family for name, family in families.items()
        if not (name.endswith(CREATED) and name.removesuffix(CREATED) in families)
    }


def exposed_series(families: Mapping[str, Family]) -> dict[str, Family]:
    """Series name -> its family, for every series a query may select."""
    return {series: family for family in families.values() for series in family.series}


# --- README / INTERFACE metrics tables ---------------------------------------------------------

_TABLE_ROW = re.compile(r"^\|\s*`?(?P<name>[a-zA-Z_:][\w:]*)`?\s*\|\s*`?(?P<type>\w+)`?\s*\|"
                        r"(?P<labels>[^|]*)\|")


@dataclass(frozen=True, slots=True)
class DocumentedMetric:
    name: str
    type: str
    labels: frozenset[str]


NO_LABELS = "(none)"  # how a table says a metric has no labels


def documented_metrics(markdown: str, prefix: str = "freerouter_") -> dict[str, DocumentedMetric]:
    """Rows `| name | type | label, label | ... |` whose name starts with the prefix."""
    found = {}
    for line in markdown.splitlines():
        row = _TABLE_ROW.match(line.strip())
        if row is None or not row["name"].startswith(prefix):
            continue
        labels = frozenset(
            label.strip(" `") for label in row["labels"].split(",")
            if label.strip(" `") and label.strip(" `") != NO_LABELS
        )
        found[row["name"]] = DocumentedMetric(row["name"], row["type"].lower(), labels)
    return found
