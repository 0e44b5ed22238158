"""Tenancy labels are defaulted onto objects, idempotently, and kubeOP's App label is not duplicated."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jsonpatch
import pytest

from admission import dispatch
from admission.rules import build_registries, register_guardrails
from admission.rules.kubeop_app import label_managed_by as label_managed_by_rule
from admission.rules.tenancy_labels import tenancy_labels as tenancy_labels_rule
from tests.unit.test_guardrails_support import (
    ADMIN,
    ALICE,
    KUBEOP,
    custom,
    judged,
    pod,
    project,
    request,
    tenant,
    with_labels,
    world,
)

pytestmark = pytest.mark.unit

label_managed_by = judged(label_managed_by_rule)
tenancy_labels = judged(tenancy_labels_rule)

TENANT = "app.kubeop.io/tenant"
PROJECT = "app.kubeop.io/project"


def _labels_after(
    obj: Mapping[str, Any],
    who: tuple[str, tuple[str, ...]] = ALICE,
    operation: str = "CREATE",
    view_extra: tuple[Mapping[str, Any], ...] = (),
) -> dict[str, str]:
    verdict = tenancy_labels(
        request(obj, operation, old=obj if operation == "UPDATE" else None, who=who), world(*view_extra)
    )
    result = jsonpatch.apply_patch(dict(obj), list(verdict.patch))
    labels: dict[str, str] = (result.get("metadata") or {}).get("labels") or {}
    return labels


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        (pod(), {TENANT: "acme", PROJECT: "web"}),
        (
            custom("apps.shophub.local/v1", "Shop", "s", "kubeop-globex-shop", title="t"),
            {TENANT: "globex", PROJECT: "shop"},
        ),
        (with_labels(pod(), {TENANT: "globex", "app": "x"}), {TENANT: "acme", PROJECT: "web", "app": "x"}),
        (pod(ns="default"), {}),
        (project("acme-demo", "acme", "Demo Project"), {TENANT: "acme", PROJECT: "demo-project"}),
    ],
)
def test_labels_objects_with_their_tenant_and_project(obj: Mapping[str, Any], expected: dict[str, str]) -> None:
    assert _labels_after(obj) == expected


@pytest.mark.parametrize(
    ("who", "extra", "expected"),
    [
        (ALICE, (), {TENANT: "acme"}),
        (ADMIN, (), {}),
        (ALICE, (tenant("initech", owners=[{"kind": "User", "name": "alice"}]),), {}),
    ],
)
def test_cluster_scoped_records_get_the_tenant_of_a_single_tenant_owner(
    who: tuple[str, tuple[str, ...]], extra: tuple[Mapping[str, Any], ...], expected: dict[str, str]
) -> None:
    record = custom(KUBEOP, "DNSRecord", "web", host="web.acme.example", target="1.2.3.4")
    assert _labels_after(record, who=who, view_extra=extra) == expected


@pytest.mark.parametrize(
    ("who", "expected"),
    [(ALICE, {TENANT: "acme"}), (ADMIN, {TENANT: ""}), (("dana", ("acme-admins", "globex-admins")), {TENANT: ""})],
)
def test_an_empty_tenant_label_on_a_cluster_scoped_record_is_not_a_way_out(
    who: tuple[str, tuple[str, ...]], expected: dict[str, str]
) -> None:
    record = with_labels(custom(KUBEOP, "Registry", "r", host="ghcr.io"), {TENANT: ""})
    assert _labels_after(record, who=who) == expected


@pytest.mark.parametrize(
    "written", [{TENANT: "", PROJECT: ""}, {TENANT: "globex", PROJECT: "shop"}, {TENANT: "", PROJECT: "web"}]
)
def test_namespaced_tenancy_labels_always_come_from_the_namespace(written: dict[str, str]) -> None:
    assert _labels_after(with_labels(pod(), written)) == {TENANT: "acme", PROJECT: "web"}
    assert _labels_after(with_labels(pod(), written), operation="UPDATE") == {TENANT: "acme", PROJECT: "web"}


def test_a_chosen_tenant_label_on_a_cluster_scoped_record_is_kept() -> None:
    record = with_labels(custom(KUBEOP, "Certificate", "c", host="x.globex.example"), {TENANT: "globex"})
    assert tenancy_labels(request(record, who=ALICE), world()).patch == ()


@pytest.mark.parametrize(
    "obj",
    [pod(), project("acme-x", "acme", "x"), custom(KUBEOP, "DNSRecord", "d", host="a.acme.example", target="1.1.1.1")],
)
def test_defaulting_its_own_output_records_nothing(obj: Mapping[str, Any]) -> None:
    view = world()
    first = tenancy_labels(request(obj), view)
    assert first.patch
    defaulted = jsonpatch.apply_patch(dict(obj), list(first.patch))
    assert tenancy_labels(request(defaulted, "UPDATE", old=defaulted), view).patch == ()


def test_registers_the_app_managed_by_label_once_and_both_labels_land_on_apps() -> None:
    registries = build_registries()
    register_guardrails(registries)
    register_guardrails(registries)
    handlers = registries.mutating.handlers_for("paas.kubeop.io", "App", "CREATE")
    assert handlers.count(label_managed_by_rule) == 1
    app = custom(KUBEOP, "App", "web", "kubeop-acme-web", type="Image", image="ghcr.io/acme/web:1")
    outcome = dispatch.review(request(app), world(), registries)
    assert outcome.patched_object is not None
    assert outcome.patched_object["metadata"]["labels"] == {
        "app.kubeop.io/managed-by": "kubeop-admission",
        TENANT: "acme",
        PROJECT: "web",
    }
