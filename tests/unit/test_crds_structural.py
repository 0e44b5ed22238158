"""The API server's checks of a custom object, offline: strict decoding, nulls, the schema, CEL, in its wording."""

from __future__ import annotations

from typing import Any

import pytest

from crds.registry import by_kind
from crds.structural import CEL_NOT_CHECKED, decode, invalid_message, validate

pytestmark = pytest.mark.unit

SHOP = by_kind("apps.shophub.local", "Shop")
TENANT = by_kind("paas.kubeop.io", "Tenant")
APP = by_kind("paas.kubeop.io", "App")
REGISTRY = by_kind("paas.kubeop.io", "Registry")
DJANGO = by_kind("thismatters.github", "Django")
assert all(info is not None for info in (SHOP, TENANT, APP, REGISTRY, DJANGO))


def obj(api_version: str, kind: str, spec: Any = ..., **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"apiVersion": api_version, "kind": kind, "metadata": {"name": "x"}, **extra}
    if spec is not ...:
        body["spec"] = spec
    return body


def shop(**spec: Any) -> dict[str, Any]:
    return obj("apps.shophub.local/v1", "Shop", {"title": "Tea", "walletAddress": "", **spec})


def judge(info: Any, body: dict[str, Any], old: dict[str, Any] | None = None) -> str:
    decoded = decode(info, body)
    if decoded.errors:
        return invalid_message(info, "x", list(decoded.errors))
    old_obj = decode(info, old).obj if old is not None else None
    errors = validate(info, decoded.obj, old_obj)
    return invalid_message(info, "x", errors) if errors else ""


@pytest.mark.parametrize(
    ("info", "body", "expected"),
    [
        (
            SHOP,
            shop(availability="extreme"),
            'spec.availability: Unsupported value: "extreme": supported values: "high", "standard"',
        ),
        (SHOP, obj("apps.shophub.local/v1", "Shop", None), "* spec: Required value"),
        (SHOP, obj("apps.shophub.local/v1", "Shop"), "* spec: Required value"),
        (TENANT, obj("paas.kubeop.io/v1alpha1", "Tenant", None), "* spec: Required value"),
        (
            SHOP,
            shop(replicas="3"),
            'spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer',
        ),
        (SHOP, shop(replicas=-1), "spec.replicas in body should be greater than or equal to 0"),
        (SHOP, shop(colour="green"), 'strict decoding error: unknown field "spec.colour"'),
        (TENANT, obj("paas.kubeop.io/v1alpha1", "Tenant", {}), "spec.name: Required value: spec.name is required"),
        (APP, obj("paas.kubeop.io/v1alpha1", "App", {"type": "Image"}), "spec.image required when type=Image"),
        (
            REGISTRY,
            obj("paas.kubeop.io/v1alpha1", "Registry", {"host": "ghcr.io", "username": "bot"}),
            "spec.passwordRef: Required value: spec.passwordRef must be set when username provided",
        ),
        # A map's values are named with dots, as the API server names them, not with brackets.
        (
            TENANT,
            obj("paas.kubeop.io/v1alpha1", "Tenant", {"name": "a", "quota": {"hard": {"requests.cpu": -8}}}),
            "spec.quota.hard.requests.cpu: Invalid value: -8: spec.quota.hard.requests.cpu in body should be "
            "greater than or equal to 0",
        ),
    ],
)
def test_refuses_as_the_api_server_words_it(info: Any, body: dict[str, Any], expected: str) -> None:
    assert expected in judge(info, body)


def test_cel_rules_are_skipped_after_a_blocking_schema_error() -> None:
    message = judge(SHOP, shop(availability="extreme"))
    assert CEL_NOT_CHECKED in message


def test_an_empty_string_breaks_both_min_length_and_its_cel_rule() -> None:
    message = judge(TENANT, obj("paas.kubeop.io/v1alpha1", "Tenant", {"name": ""}))
    assert "spec.name in body should be at least 1 chars long" in message
    assert "spec.name: Required value: spec.name is required" in message


def test_transition_rules_run_only_on_update() -> None:
    assert judge(SHOP, shop(database="mongodb")) == ""
    message = judge(SHOP, shop(database="mongodb"), shop(database="postgres"))
    assert 'spec.database: Invalid value: "string": spec.database is immutable: it was "postgres", now "mongodb"' in (
        message
    )


def test_status_of_thismatters_django_keeps_unknown_fields_as_upstream() -> None:
    body = obj(
        "thismatters.github/v1alpha",
        "Django",
        {"host": "a.example.com"},
        status={"condition": "running", "replicas": 2},
    )
    assert judge(DJANGO, body) == ""


@pytest.mark.parametrize("body", [shop(), shop(availability="high", replicas=3), shop(image=None)])
def test_admits_valid_objects(body: dict[str, Any]) -> None:
    assert judge(SHOP, body) == ""
