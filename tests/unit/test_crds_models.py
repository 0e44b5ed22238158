"""Upstream manifests parse and validate; shapes upstream rejects (or that are truly invalid) are refused."""

from __future__ import annotations

import copy
import pathlib
from typing import Any

import pytest
import yaml

import crds
from crds import FieldError, InvalidObjectError, UnknownKindError, parse, validation_errors
from crds.shophub_apps import Shop

pytestmark = pytest.mark.unit

MANIFESTS = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "manifests"


def _manifests() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted(MANIFESTS.rglob("*.yaml")):
        if path.relative_to(MANIFESTS).parts[0] in ("broken", "samples"):
            continue  # refused on purpose, or upstream-shaped multi-document files (see test_review_consistency_e2e)
        for document in yaml.safe_load_all(path.read_text()):
            found.append((str(path.relative_to(MANIFESTS)), document))
    return found


def _manifest(name: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((MANIFESTS / name).read_text())
    return document


def _set(raw: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of `raw` with the dotted `path` set to `value` (or removed when value is ...)."""
    result = copy.deepcopy(raw)
    *parents, last = path.split(".")
    node = result
    for step in parents:
        node = node[step]
    if value is ...:
        del node[last]
    else:
        node[last] = value
    return result


ALL_MANIFESTS = _manifests()


def test_every_kind_has_a_fixture() -> None:
    kinds = {(crds.kind_of(raw).group, raw["kind"]) for _, raw in ALL_MANIFESTS}
    assert kinds == {(info.group, info.kind) for info in crds.registry.KINDS}


@pytest.mark.parametrize(("name", "raw"), ALL_MANIFESTS, ids=[name for name, _ in ALL_MANIFESTS])
def test_upstream_manifest_parses_and_validates(name: str, raw: dict[str, Any]) -> None:
    model = parse(raw)
    assert model.kind == raw["kind"]
    assert model.metadata.name == raw["metadata"]["name"]
    assert validation_errors(raw) == []


@pytest.mark.parametrize(("name", "raw"), ALL_MANIFESTS, ids=[name for name, _ in ALL_MANIFESTS])
def test_parse_does_not_modify_the_raw_object(name: str, raw: dict[str, Any]) -> None:
    before = copy.deepcopy(raw)
    parse(raw)
    validation_errors(raw)
    assert raw == before


INVALID = [
    # (fixture, path, new value or ... to delete, expected error path, expected message)
    (
        "shophub/shop-postgres-standard.yaml",
        "spec.availability",
        "premium",
        "spec.availability",
        'must be one of "standard", "high"; got "premium"',
    ),
    (
        "shophub/shop-postgres-standard.yaml",
        "spec.database",
        "mysql",
        "spec.database",
        'must be one of "postgres", "mongodb"; got "mysql"',
    ),
    ("shophub/shop-postgres-standard.yaml", "spec.title", ..., "spec.title", "is required"),
    ("shophub/shop-postgres-standard.yaml", "spec.walletAddress", ..., "spec.walletAddress", "is required"),
    (
        "shophub/shop-postgres-standard.yaml",
        "spec.replicas",
        -1,
        "spec.replicas",
        "must be greater than or equal to 0; got -1",
    ),
    ("shophub/shop-postgres-standard.yaml", "spec.replicas", "3", "spec.replicas", 'must be an integer; got "3"'),
    ("shophub/shop-postgres-standard.yaml", "spec", None, "spec", "is required"),
    ("shophub/shop-postgres-standard.yaml", "spec", ..., "spec", "is required"),
    ("shophub/discordchannel.yaml", "spec", None, "spec", "is required"),
    ("shophub/discordchannel.yaml", "spec.guildId", ..., "spec.guildId", "is required"),
    ("shophub/discordchannel.yaml", "spec.name", ..., "spec.name", "is required"),
    ("shophub/discordchannel.yaml", "spec.botTokenRef", ..., "spec.botTokenRef", "is required"),
    ("shophub/wallet-generated.yaml", "spec", None, "spec", "is required"),
    ("shophub/wallet-generated.yaml", "spec.network", ..., "spec.network", "is required"),
    (
        "shophub/wallet-generated.yaml",
        "spec.network",
        "bitcoin",
        "spec.network",
        'must be one of "ethereum", "sepolia", "polygon-amoy", "solana"; got "bitcoin"',
    ),
    ("kubeop/tenant-minimal.yaml", "spec.name", ..., "spec.name", "spec.name is required"),
    ("kubeop/tenant-minimal.yaml", "spec.name", "", "spec.name", "spec.name is required"),
    ("kubeop/project.yaml", "spec.tenantRef", ..., "spec.tenantRef", "spec.tenantRef is required"),
    ("kubeop/project.yaml", "spec.name", ..., "spec.name", "spec.name is required"),
    ("kubeop/app-image.yaml", "spec.image", ..., "spec.image", "spec.image required when type=Image"),
    (
        "kubeop/app-image.yaml",
        "spec.type",
        "Docker",
        "spec.type",
        'must be one of "Image", "Git", "Helm", "Raw"; got "Docker"',
    ),
    ("kubeop/dnsrecord.yaml", "spec.host", ..., "spec.host", "spec.host is required"),
    ("kubeop/dnsrecord.yaml", "spec.target", ..., "spec.target", "spec.target is required"),
    ("kubeop/certificate.yaml", "spec.host", ..., "spec.host", "spec.host is required"),
    (
        "kubeop/policy.yaml",
        "spec.egressAllowCIDRs",
        [f"10.0.{i}.0/24" for i in range(65)],
        "spec.egressAllowCIDRs",
        "egressAllowCIDRs list too large",
    ),
    (
        "kubeop/registry.yaml",
        "spec.passwordRef",
        ...,
        "spec.passwordRef",
        "spec.passwordRef must be set when username provided",
    ),
    ("kubeop/registry.yaml", "spec.host", ..., "spec.host", "spec.host is required"),
    (
        "kubeop/tenant-guardrails.yaml",
        "spec.owners",
        [{"kind": "Robot", "name": "r2"}],
        "spec.owners[0].kind",
        'must be one of "User", "Group", "ServiceAccount"; got "Robot"',
    ),
    (
        "kubeop/tenant-guardrails.yaml",
        "spec.allowedDomains",
        ["*.Globex.example"],
        "spec.allowedDomains[0]",
        "must match the pattern",
    ),
    (
        "kubeop/tenant-guardrails.yaml",
        "spec.quota",
        {"hard": {"requests.cpu": "lots"}},
        "spec.quota.hard[requests.cpu]",
        'must be a resource quantity of 0 or more, such as 500m, 2 or 1Gi; got "lots"',
    ),
    (
        "kubeop/tenant-guardrails.yaml",
        "spec.quota",
        {"hard": {"requests.cpu": "-8"}},
        "spec.quota.hard[requests.cpu]",
        'must be a resource quantity of 0 or more, such as 500m, 2 or 1Gi; got "-8"',
    ),
    (
        "kubeop/tenant-guardrails.yaml",
        "spec.quota",
        {"projectDefaults": {"hard": {"pods": -1}}},
        "spec.quota.projectDefaults.hard[pods]",
        "must be a resource quantity of 0 or more",
    ),
    ("kubeop/tenant-guardrails.yaml", "spec.maxProjects", -1, "spec.maxProjects", "must be greater than or equal"),
    ("kubeop/tenant-guardrails.yaml", "spec.cordoned", "yes", "spec.cordoned", 'must be a boolean; got "yes"'),
    (
        "kubeop/tenant-guardrails.yaml",
        "spec.eventWebhooks",
        [{"url": "ftp://example.com"}],
        "spec.eventWebhooks[0].url",
        "must match the pattern",
    ),
    (
        "django/thismatters-full.yaml",
        "spec.appProbeSpec",
        {"httpGet": {"scheme": "FTP"}},
        "spec.appProbeSpec.httpGet.scheme",
        'must be one of "HTTP", "HTTPS"; got "FTP"',
    ),
    ("django/thismatters-full.yaml", "spec.env", [{"value": "x"}], "spec.env[0].name", "is required"),
    (
        "django/thismatters-full.yaml",
        "spec.autoscalers",
        {"app": {"replicas": {"minimum": 0}}},
        "spec.autoscalers.app.replicas.minimum",
        "must be greater than or equal to 1; got 0",
    ),
    ("django/blindage-example.yaml", "spec.image", ..., "spec.image", "is required"),
    ("django/blindage-example.yaml", "spec.appEnvs", {"DEBUG": 1}, "spec.appEnvs[DEBUG]", "must be a string; got 1"),
    ("django/blindage-example.yaml", "spec.replicas", "two", "spec.replicas", 'must be an integer; got "two"'),
]


@pytest.mark.parametrize(
    ("fixture", "path", "value", "error_path", "message"),
    INVALID,
    ids=[f"{row[0]}:{row[1]}={'<absent>' if row[2] is ... else row[2]!r:.30}" for row in INVALID],
)
def test_rejects_invalid_shape(fixture: str, path: str, value: Any, error_path: str, message: str) -> None:
    raw = _set(_manifest(fixture), path, value)
    errors = validation_errors(raw)
    assert any(error.path == error_path and message in error.message for error in errors), errors


@pytest.mark.parametrize("fixture", ["shophub/shop-postgres-standard.yaml", "shophub/wallet-generated.yaml"])
def test_parse_raises_with_field_errors(fixture: str) -> None:
    raw = _set(_manifest(fixture), "spec", None)
    with pytest.raises(InvalidObjectError) as caught:
        parse(raw)
    assert caught.value.errors == (FieldError("spec", "is required"),)
    assert str(caught.value) == "spec: is required"


@pytest.mark.parametrize(
    "raw",
    [
        {"apiVersion": "apps.shophub.local/v2", "kind": "Shop", "spec": {}},
        {"apiVersion": "apps.shophub.local/v1", "kind": "Store", "spec": {}},
        {"apiVersion": "v1", "kind": "ConfigMap"},
        {},
    ],
)
def test_unknown_kind_is_reported_not_guessed(raw: dict[str, Any]) -> None:
    with pytest.raises(UnknownKindError):
        parse(raw)
    with pytest.raises(UnknownKindError):
        validation_errors(raw)


def test_parse_picks_the_model_by_api_version_for_both_django_groups() -> None:
    blindage = parse(_manifest("django/blindage-example.yaml"))
    thismatters = parse(_manifest("django/thismatters-full.yaml"))
    assert type(blindage).__module__ == "crds.django_blindage"
    assert type(thismatters).__module__ == "crds.django_thismatters"


def test_unknown_fields_are_kept_not_dropped() -> None:
    raw = _set(_manifest("shophub/shop-postgres-standard.yaml"), "spec.futureField", {"a": 1})
    shop = parse(raw)
    assert isinstance(shop, Shop)
    assert shop.spec.model_extra == {"futureField": {"a": 1}}
    assert shop.model_dump(mode="json", exclude_none=True)["spec"]["futureField"] == {"a": 1}


def test_snake_case_names_are_not_accepted_as_wire_names() -> None:
    raw = _set(_manifest("shophub/shop-postgres-standard.yaml"), "spec.walletAddress", ...)
    raw["spec"]["wallet_address"] = "0x0"
    assert FieldError("spec.walletAddress", "is required") in validation_errors(raw)


def test_parse_fills_in_the_models_defaults() -> None:
    shop = parse(_manifest("shophub/shop-defaults.yaml"))
    assert isinstance(shop, Shop)
    assert (shop.spec.availability, shop.spec.database, shop.spec.replicas) == ("standard", "postgres", None)


def test_status_with_full_conditions_parses() -> None:
    raw = _manifest("kubeop/project.yaml")
    raw["status"] = {
        "namespace": "kubeop-acme-web",
        "ready": True,
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "Bootstrapped",
                "message": "Project namespace ready",
                "lastTransitionTime": "2024-05-01T10:00:00Z",
                "observedGeneration": 1,
            }
        ],
    }
    assert validation_errors(raw) == []


@pytest.mark.parametrize(
    ("condition", "error_path", "message"),
    [
        ({"type": "Ready"}, "status.conditions[0].status", "is required"),
        ({"type": "Ready", "status": "Yes"}, "status.conditions[0].status", 'must be one of "True", "False"'),
        (
            {"type": "Ready", "status": "True", "lastTransitionTime": "today"},
            "status.conditions[0].lastTransitionTime",
            "must be an RFC 3339 date-time",
        ),
        ({"type": "Ready", "status": "True", "reason": "not ok"}, "status.conditions[0].reason", "pattern"),
    ],
)
def test_rejects_malformed_condition(condition: dict[str, Any], error_path: str, message: str) -> None:
    raw = _manifest("shophub/wallet-generated.yaml")
    raw["status"] = {"conditions": [condition]}
    errors = validation_errors(raw)
    assert any(error.path == error_path and message in error.message for error in errors), errors


@pytest.mark.parametrize(
    ("fixture", "path", "value", "message"),
    [
        (
            "shophub/shop-postgres-standard.yaml",
            "spec.database",
            "mongodb",
            'spec.database is immutable: it was "postgres", now "mongodb"',
        ),
        ("kubeop/project.yaml", "spec.tenantRef", "globex", 'spec.tenantRef is immutable: it was "acme", now "globex"'),
        ("kubeop/project.yaml", "spec.name", "api", 'spec.name is immutable: it was "web", now "api"'),
        (
            "shophub/discordchannel.yaml",
            "spec.guildId",
            "42",
            'spec.guildId is immutable: it was "1187436921458327612", now "42"',
        ),
    ],
)
def test_update_of_immutable_field_is_refused(fixture: str, path: str, value: Any, message: str) -> None:
    old = _manifest(fixture)
    assert validation_errors(_set(old, path, value), old=old) == [FieldError(path, message)]


def test_immutable_field_compares_defaulted_values() -> None:
    old = _set(_manifest("shophub/shop-defaults.yaml"), "spec.database", "mongodb")
    new = _manifest("shophub/shop-defaults.yaml")
    assert [error.path for error in validation_errors(new, old=old)] == ["spec.database"]


def test_update_keeping_immutable_fields_is_accepted() -> None:
    old = _manifest("shophub/shop-postgres-standard.yaml")
    new = _set(old, "spec.title", "Tea House 2")
    assert validation_errors(new, old=old) == []
