"""The generated CustomResourceDefinitions are structural, documented, deterministic and committed fresh."""

from __future__ import annotations

import io
import pathlib
from collections.abc import Iterator
from contextlib import redirect_stdout
from typing import Any

import pytest
import yaml

from crds import generator, registry
from crds.common import KindInfo
from crds.schema import validations

pytestmark = pytest.mark.unit

CHART_CRDS = pathlib.Path(__file__).resolve().parents[2] / "deploy" / "chart" / "crds"
CRDS = generator.generate_crds()
BY_NAME = {crd["metadata"]["name"]: crd for crd in CRDS}

INT_OR_STRING_ANY_OF = [{"type": "integer"}, {"type": "string"}]
FORBIDDEN_KEYS = {"$ref", "oneOf", "allOf", "not", "definitions", "$defs", "title", "nullable", "additionalItems"}

# Where a schema deliberately keeps unknown fields; anywhere else it is a mistake.
PRESERVE_UNKNOWN = {
    "djangos.thismatters.github": {
        "spec.env[].valueFrom",
        "spec.volumes[]",
        "spec.volumes[].secret",
        "spec.strategy",
        "spec.pipelineStep",
        "status",  # as upstream: its samples carry status fields such as status.replicas
        "status.pipelineSpec",
        "status.created",
        "status.migration_pipeline",
    },
    "djangos.blindage.org": {"spec"},
}


def _root(crd: dict[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def structural_problems(node: dict[str, Any], path: str = "") -> Iterator[str]:
    """Why a schema is not structural in the apiextensions.k8s.io/v1 sense (and documented), if it is not."""
    for key in FORBIDDEN_KEYS & node.keys():
        yield f"{path or '<root>'}: forbidden key {key}"
    if "anyOf" in node and not (node.get("x-kubernetes-int-or-string") and node["anyOf"] == INT_OR_STRING_ANY_OF):
        yield f"{path}: anyOf is only allowed in the int-or-string form"
    if not (
        node.get("type") or node.get("x-kubernetes-int-or-string") or node.get("x-kubernetes-preserve-unknown-fields")
    ):
        yield f"{path}: no type"
    if "properties" in node and isinstance(node.get("additionalProperties"), dict):
        yield f"{path}: both properties and additionalProperties"
    if node.get("type") == "array" and not isinstance(node.get("items"), dict):
        yield f"{path}: array without a single items schema"
    if node.get("x-kubernetes-list-type") == "map":
        items = node["items"]
        for key in node.get("x-kubernetes-list-map-keys", ()):
            if key not in items.get("required", ()) and "default" not in items["properties"][key]:
                yield f"{path}: list map key {key} is neither required nor defaulted"
    for name, child in node.get("properties", {}).items():
        child_path = f"{path}.{name}" if path else name
        if child_path == "metadata":
            if child != {"type": "object"}:
                yield "metadata: only {type: object} is allowed"
            continue
        if not child.get("description"):
            yield f"{child_path}: no description"
        yield from structural_problems(child, child_path)
    if isinstance(node.get("items"), dict):
        yield from structural_problems(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from structural_problems(node["additionalProperties"], f"{path}[*]")


def preserve_unknown_paths(node: dict[str, Any], path: str = "") -> Iterator[str]:
    if node.get("x-kubernetes-preserve-unknown-fields"):
        yield path
    for name, child in node.get("properties", {}).items():
        yield from preserve_unknown_paths(child, f"{path}.{name}" if path else name)
    if isinstance(node.get("items"), dict):
        yield from preserve_unknown_paths(node["items"], f"{path}[]")


def test_one_crd_per_kind_named_plural_dot_group() -> None:
    assert sorted(BY_NAME) == sorted(info.crd_name for info in registry.KINDS)


@pytest.mark.parametrize("name", sorted(BY_NAME))
def test_schema_is_structural_and_every_field_is_described(name: str) -> None:
    assert list(structural_problems(_root(BY_NAME[name]))) == []


@pytest.mark.parametrize("name", sorted(BY_NAME))
def test_unknown_fields_are_preserved_only_where_intended(name: str) -> None:
    assert set(preserve_unknown_paths(_root(BY_NAME[name]))) == PRESERVE_UNKNOWN.get(name, set())


def test_checker_catches_a_non_structural_schema() -> None:
    bad = {
        "type": "object",
        "properties": {
            "a": {"type": "string"},
            "b": {"description": "x", "anyOf": [{"type": "string"}, {"type": "null"}]},
            "c": {"description": "x", "$ref": "#/definitions/C"},
        },
    }
    problems = list(structural_problems(bad))
    assert "a: no description" in problems
    assert "b: anyOf is only allowed in the int-or-string form" in problems
    assert "b: no type" in problems
    assert "c: forbidden key $ref" in problems


@pytest.mark.parametrize("info", registry.KINDS, ids=[info.crd_name for info in registry.KINDS])
def test_crd_carries_names_scope_and_subresources(info: KindInfo) -> None:
    crd = BY_NAME[info.crd_name]
    names = crd["spec"]["names"]
    assert (crd["spec"]["group"], crd["spec"]["scope"]) == (info.group, info.scope)
    assert (names["kind"], names["plural"], names["singular"]) == (info.kind, info.plural, info.singular)
    assert names.get("shortNames", []) == list(info.short_names)
    assert names.get("categories", []) == list(info.categories)
    (version,) = crd["spec"]["versions"]
    assert (version["name"], version["served"], version["storage"]) == (info.version, True, True)
    assert version["subresources"]["status"] == {}
    status = _root(crd)["properties"]["status"]["properties"]
    conditions = status["conditions"]
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    assert set(conditions["items"]["properties"]) == {
        "type",
        "status",
        "reason",
        "message",
        "lastTransitionTime",
        "observedGeneration",
    }
    assert conditions["items"]["properties"]["lastTransitionTime"]["format"] == "date-time"


def test_shop_scale_subresource() -> None:
    version = BY_NAME["shops.apps.shophub.local"]["spec"]["versions"][0]
    assert version["subresources"]["scale"] == {
        "specReplicasPath": ".spec.replicas",
        "statusReplicasPath": ".status.readyReplicas",
        "labelSelectorPath": ".status.selector",
    }


@pytest.mark.parametrize(
    ("crd", "path", "expected"),
    [
        ("shops.apps.shophub.local", "spec.availability", "standard"),
        ("shops.apps.shophub.local", "spec.database", "postgres"),
        ("djangos.thismatters.github", "spec.autoscalers", {}),
        ("djangos.thismatters.github", "spec.autoscalers.app.enabled", True),
        ("djangos.thismatters.github", "spec.autoscalers.app.cpuUtilizationThreshold", 60),
        ("djangos.thismatters.github", "spec.autoscalers.worker.replicas.minimum", 1),
        ("djangos.thismatters.github", "spec.autoscalers.worker.replicas.maximum", 10),
        ("djangos.thismatters.github", "spec.ports.app", 8000),
        ("djangos.thismatters.github", "spec.ports.redis", 6379),
        ("djangos.thismatters.github", "spec.env", []),
        ("djangos.thismatters.github", "spec.alwaysRunMigrations", False),
        ("djangos.thismatters.github", "spec.initManageTimeouts.period", 12),
        ("djangos.thismatters.github", "spec.initManageTimeouts.iterations", 20),
        ("djangos.thismatters.github", "spec.resourceRequests.app.memory", "100Mi"),
        ("djangos.thismatters.github", "spec.resourceRequests.app.cpu", "300m"),
        ("djangos.thismatters.github", "spec.resourceRequests.beat.cpu", "50m"),
        ("djangos.thismatters.github", "spec.resourceRequests.worker.memory", "200Mi"),
        ("djangos.thismatters.github", "spec.appProbeSpec", {}),
        ("djangos.thismatters.github", "spec.appProbeSpec.httpGet.scheme", "HTTP"),
        ("djangos.thismatters.github", "spec.appProbeSpec.httpGet.path", "/"),
        ("djangos.thismatters.github", "spec.appProbeSpec.httpGet.port", 8000),
        ("djangos.thismatters.github", "spec.appProbeSpec.initialDelaySeconds", 30),
        ("djangos.thismatters.github", "spec.appProbeSpec.periodSeconds", 10),
        ("djangos.thismatters.github", "spec.appProbeSpec.timeoutSeconds", 1),
        ("djangos.thismatters.github", "spec.appProbeSpec.failureThreshold", 6),
        ("djangos.blindage.org", "spec.appPort", 8000),
        ("djangos.blindage.org", "spec.appStaticPath", "/app/static"),
        ("djangos.blindage.org", "spec.appMediaPath", "/app/media"),
        ("djangos.blindage.org", "spec.replicas", 1),
        ("djangos.blindage.org", "spec.runMigrate", False),
        ("djangos.blindage.org", "spec.runCollectStatic", False),
        ("apps.paas.kubeop.io", "spec.type", "Image"),
    ],
)
def test_schema_default_as_upstream(crd: str, path: str, expected: Any) -> None:
    node = _root(BY_NAME[crd])
    for step in path.split("."):
        node = node["properties"][step]
    assert node["default"] == expected
    assert "Defaults to" in node["description"], "kubectl explain shows the default"


@pytest.mark.parametrize(
    ("crd", "field"),
    [
        ("shops.apps.shophub.local", "title"),
        ("shops.apps.shophub.local", "availability"),
        ("shops.apps.shophub.local", "database"),
        ("shops.apps.shophub.local", "walletAddress"),
        ("discordchannels.notify.shophub.local", "guildId"),
        ("discordchannels.notify.shophub.local", "name"),
        ("discordchannels.notify.shophub.local", "botTokenRef"),
        ("wallets.payments.shophub.local", "network"),
    ],
)
def test_shophub_required_fields(crd: str, field: str) -> None:
    root = _root(BY_NAME[crd])
    assert root["required"] == ["spec"]
    assert field in root["properties"]["spec"]["required"]


@pytest.mark.parametrize(
    ("crd", "on", "message"),
    [
        ("tenants.paas.kubeop.io", "spec", "spec.name is required"),
        ("projects.paas.kubeop.io", "spec", "spec.tenantRef is required"),
        ("projects.paas.kubeop.io", "spec", "spec.name is required"),
        ("apps.paas.kubeop.io", "spec", "spec.image required when type=Image"),
        ("dnsrecords.paas.kubeop.io", "spec", "spec.host is required"),
        ("dnsrecords.paas.kubeop.io", "spec", "spec.target is required"),
        ("certificates.paas.kubeop.io", "spec", "spec.host is required"),
        ("policies.paas.kubeop.io", "spec", "egressAllowCIDRs list too large"),
        ("registries.paas.kubeop.io", "spec", "spec.host is required"),
        ("registries.paas.kubeop.io", "spec", "spec.passwordRef must be set when username provided"),
        ("shops.apps.shophub.local", "spec.database", "spec.database is immutable"),
        ("projects.paas.kubeop.io", "spec.tenantRef", "spec.tenantRef is immutable"),
        ("projects.paas.kubeop.io", "spec.name", "spec.name is immutable"),
    ],
)
def test_cel_rule_with_upstream_message(crd: str, on: str, message: str) -> None:
    info = next(info for info in registry.KINDS if info.crd_name == crd)
    assert any(path == on and rule["message"] == message for path, rule in validations(info))


def test_app_image_rule_guards_against_an_absent_type() -> None:
    info = registry.require("paas.kubeop.io", "App")
    (rule,) = [rule for _, rule in validations(info) if rule["message"] == "spec.image required when type=Image"]
    assert rule["rule"].startswith("!has(self.type) ||")


@pytest.mark.parametrize("info", registry.KINDS, ids=[info.crd_name for info in registry.KINDS])
def test_strings_and_lists_in_cel_rules_are_bounded(info: KindInfo) -> None:
    """Transition rules compare whole values: their length must be bounded to keep the CEL cost estimable."""
    root = _root(BY_NAME[info.crd_name])

    def walk(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
        yield node
        for child in node.get("properties", {}).values():
            yield from walk(child)
        if isinstance(node.get("items"), dict):
            yield from walk(node["items"])

    for node in walk(root):
        for rule in node.get("x-kubernetes-validations", ()):
            if "oldSelf" in rule["rule"] and node.get("type") == "string":
                assert "maxLength" in node


@pytest.mark.parametrize("info", registry.KINDS, ids=[info.crd_name for info in registry.KINDS])
def test_printer_columns_as_declared(info: KindInfo) -> None:
    columns = BY_NAME[info.crd_name]["spec"]["versions"][0]["additionalPrinterColumns"]
    assert [(column["name"], column["jsonPath"]) for column in columns] == [
        (column.name, column.json_path) for column in info.printer_columns
    ]
    assert all(column["description"] for column in columns)


def test_generation_is_deterministic() -> None:
    assert generator.render_files() == generator.render_files()
    assert generator.generate_crds() == CRDS


def test_generate_crds_returns_independent_copies() -> None:
    first = generator.generate_crds()
    first[0]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["description"] = "changed"
    assert generator.generate_crds() == CRDS


def test_committed_chart_crds_are_fresh() -> None:
    """Fails when deploy/chart/crds differs from a fresh generation.

    Refresh with `tenantgate crds --output deploy/chart/crds`.
    """
    committed = {path.name: path.read_text(encoding="utf-8") for path in CHART_CRDS.glob("*.yaml")}
    assert committed == generator.render_files()


def test_run_cli_writes_one_file_per_crd(tmp_path: pathlib.Path) -> None:
    assert generator.run_cli(tmp_path / "out") == 0
    written = sorted(path.name for path in (tmp_path / "out").iterdir())
    assert written == sorted(f"{name}.yaml" for name in BY_NAME)
    shop = yaml.safe_load((tmp_path / "out" / "shops.apps.shophub.local.yaml").read_text())
    assert shop == BY_NAME["shops.apps.shophub.local"]


def test_run_cli_prints_all_documents_to_stdout() -> None:
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        assert generator.run_cli(None) == 0
    documents = [document for document in yaml.safe_load_all(buffer.getvalue()) if document]
    assert documents == CRDS
