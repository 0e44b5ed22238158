"""missing_defaults reproduces the API server's structural defaulting, from the models' defaults, quickly."""

from __future__ import annotations

import copy
import pathlib
from typing import Any

import pytest
import yaml

from crds import kind_of, parse
from crds.defaults import missing_defaults, with_defaults
from crds.registry import UnknownKindError

pytestmark = pytest.mark.unit

MANIFESTS = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "manifests"
ALL_MANIFESTS = [
    (str(path.relative_to(MANIFESTS)), yaml.safe_load(path.read_text()))
    for path in sorted(MANIFESTS.rglob("*.yaml"))
    if path.relative_to(MANIFESTS).parts[0] not in ("broken", "samples")  # judged by test_review_consistency_e2e
]
SHOP = "apps.shophub.local", "Shop"
DJANGO = "thismatters.github", "Django"


def _without_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _without_none(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_without_none(item) for item in value]
    return value


def _apply(raw: dict[str, Any], defaults: list[tuple[tuple[str | int, ...], Any]]) -> dict[str, Any]:
    """Apply (path, value) pairs in order, as JSON Patch `add` operations would."""
    result = copy.deepcopy(raw)
    for path, value in defaults:
        node: Any = result
        for step in path[:-1]:
            node = node[step]
        node[path[-1]] = copy.deepcopy(value)
    return result


@pytest.mark.parametrize(("name", "raw"), ALL_MANIFESTS, ids=[name for name, _ in ALL_MANIFESTS])
def test_applied_defaults_equal_the_models_defaults(name: str, raw: dict[str, Any]) -> None:
    info = kind_of(raw)
    applied = _apply(raw, missing_defaults(info.group, info.kind, raw))
    assert applied == _without_none(parse(raw).model_dump(mode="json", exclude_none=True))


def test_shop_gets_availability_and_database() -> None:
    raw = {"apiVersion": "apps.shophub.local/v1", "kind": "Shop", "spec": {"title": "t", "walletAddress": ""}}
    assert missing_defaults(*SHOP, raw) == [(("spec", "availability"), "standard"), (("spec", "database"), "postgres")]


def test_present_values_are_left_alone() -> None:
    raw = {"spec": {"title": "t", "walletAddress": "", "availability": "high", "database": "mongodb"}}
    assert missing_defaults(*SHOP, raw) == []


def test_null_counts_as_absent() -> None:
    raw = {"spec": {"title": "t", "walletAddress": "", "availability": None, "database": "mongodb"}}
    assert missing_defaults(*SHOP, raw) == [(("spec", "availability"), "standard")]


def test_no_defaults_inside_an_absent_parent() -> None:
    assert missing_defaults(*SHOP, {"metadata": {"name": "x"}}) == []
    assert missing_defaults(*DJANGO, {"metadata": {"name": "x"}}) == []


def test_parent_comes_before_child_and_defaulted_objects_are_defaulted_inside() -> None:
    defaults = missing_defaults(*DJANGO, {"spec": {"autoscalers": {"app": {"enabled": False}}}})
    paths = [path for path, _ in defaults]
    assert (("spec", "autoscalers", "worker"), {}) in defaults
    assert (("spec", "autoscalers", "worker", "replicas", "maximum"), 10) in defaults
    assert ("spec", "autoscalers", "app", "enabled") not in paths
    for index, path in enumerate(paths):
        for parent_length in range(1, len(path)):
            parent = path[:parent_length]
            if parent in paths:
                assert paths.index(parent) < index, f"{parent} must come before {path}"


def test_defaults_inside_list_items_use_indices() -> None:
    raw = {"spec": {"appProbeSpec": {"httpGet": {"httpHeaders": [{"name": "a", "value": "b"}]}}}}
    defaults = dict(missing_defaults(*DJANGO, raw))
    assert defaults[("spec", "appProbeSpec", "httpGet", "port")] == 8000
    tenant = {
        "spec": {"name": "t", "eventWebhooks": [{"url": "https://a", "secretRef": {"name": "s", "namespace": "n"}}]}
    }
    defaults = dict(missing_defaults("paas.kubeop.io", "Tenant", tenant))
    assert defaults[("spec", "eventWebhooks", 0, "secretRef", "key")] == "hmac-key"


def test_input_is_not_modified_and_values_are_fresh() -> None:
    raw: dict[str, Any] = {"spec": {}}
    first = missing_defaults(*DJANGO, raw)
    assert raw == {"spec": {}}
    expected = copy.deepcopy(first)
    for _, value in first:
        if isinstance(value, dict):
            value["scribble"] = True
        elif isinstance(value, list):
            value.append("scribble")
    assert missing_defaults(*DJANGO, raw) == expected


@pytest.mark.parametrize(
    ("group", "kind", "raw", "expected"),
    [
        (
            "blindage.org",
            "Django",
            {"spec": {"image": "x"}},
            {
                "image": "x",
                "replicas": 1,
                "appPort": 8000,
                "appStaticPath": "/app/static",
                "appMediaPath": "/app/media",
                "runMigrate": False,
                "runCollectStatic": False,
            },
        ),
        (
            "paas.kubeop.io",
            "App",
            {"spec": {"image": "nginx"}},
            {"image": "nginx", "type": "Image", "port": 80, "replicas": 1},
        ),
        ("paas.kubeop.io", "Tenant", {"spec": {"name": "t"}}, {"name": "t", "cordoned": False}),
        ("paas.kubeop.io", "Project", {"spec": {"tenantRef": "t", "name": "p"}}, {"tenantRef": "t", "name": "p"}),
    ],
)
def test_sensible_defaults(group: str, kind: str, raw: dict[str, Any], expected: dict[str, Any]) -> None:
    assert with_defaults(group, kind, raw)["spec"] == expected


def test_with_defaults_returns_a_copy() -> None:
    raw = {"spec": {"title": "t", "walletAddress": ""}}
    result = with_defaults(*SHOP, raw)
    assert raw == {"spec": {"title": "t", "walletAddress": ""}}
    assert result["spec"]["availability"] == "standard"


def test_unknown_kind_raises() -> None:
    with pytest.raises(UnknownKindError):
        missing_defaults("apps.shophub.local", "Store", {})
