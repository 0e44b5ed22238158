"""Namespace tenancy labels are tenantgate's; an App lives in its Project's namespace (failing closed)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from admission.rules.namespaces import app_namespace as app_namespace_rule
from admission.rules.namespaces import namespace_labels as namespace_labels_rule
from tests.unit.test_guardrails_support import (
    ADMIN,
    ALICE,
    BOB,
    KUBEOP,
    TENANTGATE,
    custom,
    judged,
    namespace,
    request,
    world,
)

pytestmark = pytest.mark.unit

app_namespace = judged(app_namespace_rule)
namespace_labels = judged(namespace_labels_rule)

Who = tuple[str, Sequence[str]]
ACME_NS = namespace("kubeop-acme-web", "acme", "web")


@pytest.mark.parametrize(
    ("new", "old", "who", "allowed", "text"),
    [
        (namespace("plain"), None, ALICE, True, ""),
        (namespace("sneaky", "acme", "web"), None, ALICE, False, "creating a namespace with a tenancy label"),
        (namespace("sneaky", "acme", "web"), None, ADMIN, True, ""),
        (namespace("sneaky", "acme", "web"), None, TENANTGATE, True, ""),
        (namespace("kubeop-acme-web"), ACME_NS, ALICE, False, "removing the label"),
        (namespace("kubeop-acme-web", "globex", "web"), ACME_NS, BOB, False, 'changing the label from "acme"'),
        (namespace("default", "acme"), namespace("default"), ALICE, False, "adding the label"),
        (namespace("kubeop-acme-web"), ACME_NS, ADMIN, True, ""),
        ({**ACME_NS, "metadata": {**ACME_NS["metadata"], "annotations": {"a": "b"}}}, ACME_NS, ALICE, True, ""),
    ],
)
def test_only_tenantgate_and_admins_touch_tenancy_labels(
    new: Mapping[str, Any], old: Mapping[str, Any] | None, who: Who, allowed: bool, text: str
) -> None:
    verdict = namespace_labels(request(new, "UPDATE" if old else "CREATE", old=old, who=who), world())
    assert verdict.allowed is allowed
    assert text in verdict.message
    if not allowed:
        assert "reserved to tenantgate and platform admins" in verdict.message


def _with_labels(ns: Mapping[str, Any], **labels: str | None) -> dict[str, Any]:
    result = {**ns, "metadata": {**ns["metadata"], "labels": dict(ns["metadata"]["labels"])}}
    for key, value in labels.items():
        name = f"pod-security.kubernetes.io/{key.replace('_', '-')}"
        if value is None:
            result["metadata"]["labels"].pop(name, None)
        else:
            result["metadata"]["labels"][name] = value
    return result


GUARDED_NS = _with_labels(ACME_NS, enforce="baseline", enforce_version="latest", warn="baseline")


@pytest.mark.parametrize(
    ("new", "old", "who", "allowed", "text"),
    [
        (
            _with_labels(GUARDED_NS, enforce="privileged"),
            GUARDED_NS,
            ALICE,
            False,
            'changing the label from "baseline"',
        ),
        (_with_labels(GUARDED_NS, enforce=None), GUARDED_NS, ALICE, False, "removing the label"),
        (_with_labels(GUARDED_NS, enforce_version="v1.0"), GUARDED_NS, ALICE, False, "enforce-version"),
        (_with_labels(GUARDED_NS, audit="privileged"), GUARDED_NS, ALICE, False, "adding the label"),
        (_with_labels(GUARDED_NS, enforce="privileged"), GUARDED_NS, ADMIN, True, ""),
        (_with_labels(GUARDED_NS, enforce="restricted"), GUARDED_NS, TENANTGATE, True, ""),
        (_with_labels(namespace("plain"), enforce="privileged"), namespace("plain"), ALICE, True, ""),
        (
            {**GUARDED_NS, "metadata": {**GUARDED_NS["metadata"], "annotations": {"a": "b"}}},
            GUARDED_NS,
            ALICE,
            True,
            "",
        ),
    ],
)
def test_tenants_may_not_lower_the_pod_security_labels_of_their_namespaces(
    new: Mapping[str, Any], old: Mapping[str, Any], who: Who, allowed: bool, text: str
) -> None:
    verdict = namespace_labels(request(new, "UPDATE", old=old, who=who), world())
    assert verdict.allowed is allowed, verdict.message
    assert text in verdict.message
    if not allowed:
        assert "the API server enforces the tenant's pod security level with these labels" in verdict.message


def _app(ns: str) -> dict[str, Any]:
    return custom(KUBEOP, "App", "web", ns, type="Image", image="ghcr.io/acme/web:1")


@pytest.mark.parametrize(
    ("ns", "extra", "allowed", "text"),
    [
        ("kubeop-acme-web", (), True, ""),
        ("default", (), False, "the namespace has no app.kubeop.io/tenant and app.kubeop.io/project label"),
        ("kubeop-acme-gone", (), False, "does not know this namespace (yet)"),
        ("elsewhere", (namespace("elsewhere", "acme", "web"),), False, 'whose namespace is "kubeop-acme-web"'),
        ("half", (namespace("half", "acme"),), False, "no app.kubeop.io/project label"),
    ],
)
def test_app_must_be_in_its_projects_namespace(
    ns: str, extra: tuple[Mapping[str, Any], ...], allowed: bool, text: str
) -> None:
    verdict = app_namespace(request(_app(ns)), world(*extra))
    assert verdict.allowed is allowed
    assert text in verdict.message
    if not allowed:
        assert "namespace not owned by a tenant/project" in verdict.message


def test_admins_get_the_same_app_namespace_answer() -> None:
    assert not app_namespace(request(_app("default"), who=ADMIN), world()).allowed


def test_an_admitted_app_stays_updatable_when_its_namespace_lost_its_labels() -> None:
    app = _app("default")
    verdict = app_namespace(request(app, "UPDATE", old=app), world())
    assert verdict.allowed
    assert verdict.warnings
    assert "namespace not owned by a tenant/project" in verdict.warnings[0]
