"""Tenant owners write their own tenant; nobody writes across tenants; admins and tenantgate write anywhere."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from admission.rules.membership import cordoned_tenant as cordoned_tenant_rule
from admission.rules.membership import policy_writes as policy_writes_rule
from admission.rules.membership import project_rules as project_rules_rule
from admission.rules.membership import tenant_membership as tenant_membership_rule
from admission.rules.membership import tenant_writes as tenant_writes_rule
from tenancy.namespaces import namespace_name_problem
from tests.unit.test_guardrails_support import (
    ACME,
    ACME_GROUP,
    ADMIN,
    ALICE,
    BOB,
    KUBEOP,
    STRANGER,
    TENANTGATE,
    custom,
    judged,
    namespace,
    pod,
    project,
    request,
    respec,
    with_labels,
    world,
)

pytestmark = pytest.mark.unit

cordoned_tenant = judged(cordoned_tenant_rule)
policy_writes = judged(policy_writes_rule)
project_rules = judged(project_rules_rule)
tenant_membership = judged(tenant_membership_rule)
tenant_writes = judged(tenant_writes_rule)

Who = tuple[str, Sequence[str]]
SHOP_IN_ACME = custom("apps.shophub.local/v1", "Shop", "s", "kubeop-acme-web", title="t", walletAddress="")
SA_IN_ACME = ("system:serviceaccount:kubeop-acme-web:deployer", ("system:serviceaccounts",))
SA_IN_GLOBEX = ("system:serviceaccount:kubeop-globex-shop:deployer", ("system:serviceaccounts",))


@pytest.mark.parametrize(
    ("who", "operation", "allowed"),
    [
        (ALICE, "CREATE", True),
        (ACME_GROUP, "UPDATE", True),
        (ALICE, "DELETE", True),
        (SA_IN_ACME, "CREATE", True),
        (ADMIN, "CREATE", True),
        (TENANTGATE, "DELETE", True),
        (BOB, "CREATE", False),
        (BOB, "UPDATE", False),
        (BOB, "DELETE", False),
        (SA_IN_GLOBEX, "CREATE", False),
        (STRANGER, "CREATE", False),
    ],
)
def test_only_members_write_tenantgate_kinds_in_a_tenant_namespace(who: Who, operation: str, allowed: bool) -> None:
    obj = None if operation == "DELETE" else SHOP_IN_ACME
    old = SHOP_IN_ACME if operation != "CREATE" else None
    verdict = tenant_membership(request(obj, operation, old=old, who=who), world())
    assert verdict.allowed is allowed
    if not allowed:
        assert 'metadata.namespace "kubeop-acme-web" belongs to tenant "acme"' in verdict.message
        assert f'user "{who[0]}" is not an owner of tenant "acme"' in verdict.message
        assert "spec.owners" in verdict.message


def test_outside_tenant_namespaces_anyone_may_write_as_upstream() -> None:
    shop = custom("apps.shophub.local/v1", "Shop", "s", "default", title="t", walletAddress="")
    assert tenant_membership(request(shop, who=STRANGER), world()).allowed


def test_unknown_kubeop_namespace_fails_closed() -> None:
    shop = custom("apps.shophub.local/v1", "Shop", "s", "kubeop-acme-new", title="t", walletAddress="")
    verdict = tenant_membership(request(shop, who=ALICE), world())
    assert not verdict.allowed
    assert "does not know this namespace yet" in verdict.message


def test_namespace_lagging_behind_its_project_resolves_through_the_project() -> None:
    shop = custom("apps.shophub.local/v1", "Shop", "s", "kubeop-acme-api", title="t", walletAddress="")
    view = world(project("acme-api", "acme", "api"))
    assert tenant_membership(request(shop, who=ALICE), view).allowed
    assert not tenant_membership(request(shop, who=BOB), view).allowed


@pytest.mark.parametrize(
    ("labels", "who", "allowed", "text"),
    [
        ({"app.kubeop.io/tenant": "acme"}, ALICE, True, ""),
        ({"app.kubeop.io/tenant": "acme"}, BOB, False, 'user "bob" is not an owner of tenant "acme"'),
        ({"app.kubeop.io/tenant": "nope"}, ALICE, False, "names no existing Tenant"),
        ({"app.kubeop.io/tenant": ""}, ADMIN, True, ""),
        ({}, ADMIN, True, ""),
        (
            {"app.kubeop.io/tenant": ""},
            BOB,
            False,
            'metadata.labels["app.kubeop.io/tenant"] "": DNSRecord "d" must belong to a tenant; allowed: "globex", '
            "the tenant you own",
        ),
        (
            {"app.kubeop.io/tenant": ""},
            ("dana", ("acme-admins", "globex-admins")),
            False,
            'user "dana" owns several (acme, globex); allowed: set the label to the tenant the object belongs to',
        ),
        (
            {},
            STRANGER,
            False,
            'metadata.labels["app.kubeop.io/tenant"] (missing): DNSRecord "d" must belong to a tenant, and user '
            '"mallory" owns none; DNSRecords, Certificates and Registries outside every tenant are reserved to '
            "platform admins",
        ),
        ({"app.kubeop.io/tenant": ""}, STRANGER, False, 'user "mallory" owns none'),
    ],
)
def test_cluster_scoped_records_belong_to_the_tenant_in_their_label(
    labels: Mapping[str, str], who: Who, allowed: bool, text: str
) -> None:
    record = with_labels(custom(KUBEOP, "DNSRecord", "d", host="a.acme.example", target="1.1.1.1"), labels)
    verdict = tenant_membership(request(record, who=who), world())
    assert verdict.allowed is allowed
    assert text in verdict.message


def test_moving_a_record_to_another_tenant_needs_both_tenants() -> None:
    old = with_labels(custom(KUBEOP, "Certificate", "c", host="a.acme.example"), {"app.kubeop.io/tenant": "acme"})
    new = with_labels(old, {"app.kubeop.io/tenant": "globex"})
    assert not tenant_membership(request(new, "UPDATE", old=old, who=BOB), world()).allowed
    both = ("dana", ("acme-admins", "globex-admins"))
    assert tenant_membership(request(new, "UPDATE", old=old, who=both), world()).allowed


def test_owner_of_several_tenants_must_choose_with_the_label() -> None:
    both = ("dana", ("acme-admins", "globex-admins"))
    record = custom(KUBEOP, "Registry", "r", host="ghcr.io")
    verdict = tenant_membership(request(record, who=both), world())
    assert not verdict.allowed
    assert "owns several (acme, globex)" in verdict.message


@pytest.mark.parametrize("operation", ["UPDATE", "DELETE"])
@pytest.mark.parametrize("old_labels", [{}, {"app.kubeop.io/tenant": ""}], ids=["unlabelled", "empty"])
def test_a_record_outside_every_tenant_is_the_platforms(operation: str, old_labels: Mapping[str, str]) -> None:
    old = with_labels(custom(KUBEOP, "DNSRecord", "d", host="a.acme.example", target="1.1.1.1"), old_labels)
    claimed = with_labels(old, {"app.kubeop.io/tenant": "globex"})
    new = claimed if operation == "UPDATE" else None
    verdict = tenant_membership(request(new, operation, old=old, who=BOB), world())
    assert not verdict.allowed
    assert 'DNSRecord "d" belongs to no tenant' in verdict.message
    assert "only platform admins may" in verdict.message
    assert tenant_membership(request(new, operation, old=old, who=ADMIN), world()).allowed


def test_deleting_a_record_of_a_vanished_tenant_passes() -> None:
    old = with_labels(custom(KUBEOP, "Registry", "r", host="ghcr.io"), {"app.kubeop.io/tenant": "gone"})
    assert tenant_membership(request(None, "DELETE", old=old, who=BOB), world()).allowed


# -- Projects ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "tenant_ref", "allowed"),
    [
        (ALICE, "acme", True),
        (ACME_GROUP, "acme", True),
        (ADMIN, "acme", True),
        (BOB, "acme", False),
        (STRANGER, "globex", False),
    ],
)
def test_only_owners_create_projects_of_their_tenant(who: Who, tenant_ref: str, allowed: bool) -> None:
    verdict = project_rules(request(project("p1", tenant_ref, "api"), who=who), world())
    assert verdict.allowed is allowed
    if not allowed:
        assert f'spec.tenantRef "{tenant_ref}": only owners of tenant "{tenant_ref}" may create its Projects' in (
            verdict.message
        )


def test_owners_of_another_tenant_may_not_delete_a_project() -> None:
    old = project("acme-web", "acme", "web")
    assert not project_rules(request(None, "DELETE", old=old, who=BOB), world()).allowed
    assert project_rules(request(None, "DELETE", old=old, who=ALICE), world()).allowed


def test_unknown_tenant_is_left_to_kubeops_rule() -> None:
    assert project_rules(request(project("p", "nope", "x"), who=STRANGER), world()).allowed


@pytest.mark.parametrize(
    ("tenant_ref", "name", "problem"),
    [
        ("acme", "web", None),
        ("acme", "Demo Project", None),
        ("acme", "x" * 51, None),
        ("acme", "x" * 52, "shorten spec.name by 1 character (to at most 51)"),
        ("acme", "x" * 60, "shorten spec.name by 9 characters (to at most 51)"),
        ("acme", "!!!", "has no letter or digit"),
    ],
)
def test_namespace_name_must_be_a_dns_label_of_at_most_63(tenant_ref: str, name: str, problem: str | None) -> None:
    found = namespace_name_problem(tenant_ref, name)
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert problem in found


def test_too_long_project_name_is_denied_with_what_to_shorten() -> None:
    verdict = project_rules(request(project("long", "acme", "a" * 60)), world())
    assert not verdict.allowed
    assert '"kubeop-acme-' + "a" * 60 + '", 72 characters long' in verdict.message
    assert "shorten spec.name by 9 characters (to at most 51)" in verdict.message


def test_sanitised_name_is_admitted_with_a_warning() -> None:
    verdict = project_rules(request(project("demo", "acme", "Demo Project")), world())
    assert verdict.allowed
    assert verdict.warnings == (
        'spec.name "Demo Project" is not a DNS-1123 label; the namespace will be "kubeop-acme-demo-project"',
    )


def test_two_projects_may_not_share_a_namespace_after_sanitising() -> None:
    verdict = project_rules(request(project("web2", "acme", "WEB")), world())
    assert not verdict.allowed
    assert 'Project "acme-web"' in verdict.message


def test_an_existing_foreign_namespace_is_not_adopted() -> None:
    verdict = project_rules(request(project("p", "acme", "legacy")), world(namespace("kubeop-acme-legacy")))
    assert not verdict.allowed
    assert "already exists and is not labelled" in verdict.message


@pytest.mark.parametrize(("existing", "allowed"), [(1, True), (2, False), (3, False)])
def test_max_projects_caps_creates(existing: int, allowed: bool) -> None:
    others = [project(f"acme-p{i}", "acme", f"p{i}") for i in range(existing - 1)]  # plus acme-web
    capped = respec(ACME, maxProjects=2)
    verdict = project_rules(request(project("acme-new", "acme", "new")), world(*others, replace=[capped]))
    assert verdict.allowed is allowed
    if not allowed:
        assert "spec.maxProjects is 2" in verdict.message


def test_max_projects_does_not_block_updates_of_existing_projects() -> None:
    capped = respec(ACME, maxProjects=0)
    old = project("acme-web", "acme", "web")
    new = {**old, "metadata": {"name": "acme-web", "labels": {"x": "y"}}}
    assert project_rules(request(new, "UPDATE", old=old), world(replace=[capped])).allowed


# -- Tenants, Policies -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "operation", "change", "allowed"),
    [
        (ADMIN, "CREATE", {}, True),
        (ALICE, "CREATE", {}, False),
        (ALICE, "DELETE", {}, False),
        (ALICE, "UPDATE", {"name": "ACME Corp"}, True),
        (ALICE, "UPDATE", {"eventWebhooks": [{"url": "https://x.example"}]}, True),
        (ALICE, "UPDATE", {"allowedRegistries": {"exact": ["docker.io"]}}, False),
        (ALICE, "UPDATE", {"cordoned": True}, False),
        (BOB, "UPDATE", {"name": "mine"}, False),
        (ADMIN, "UPDATE", {"maxProjects": 10}, True),
    ],
)
def test_tenant_guardrails_are_changed_by_platform_admins_only(
    who: Who, operation: str, change: Mapping[str, Any], allowed: bool
) -> None:
    new = {**ACME, "spec": {**ACME["spec"], **change}}
    obj = None if operation == "DELETE" else new
    old = ACME if operation != "CREATE" else None
    verdict = tenant_writes(request(obj, operation, old=old, who=who), world())
    assert verdict.allowed is allowed


def test_owners_may_not_switch_their_pod_security_annotation() -> None:
    new = {**ACME, "metadata": {"name": "acme", "annotations": {"tenantgate.io/pod-security": "baseline"}}}
    old = {**ACME, "metadata": {"name": "acme", "annotations": {"tenantgate.io/pod-security": "restricted"}}}
    verdict = tenant_writes(request(new, "UPDATE", old=old, who=ALICE), world())
    assert not verdict.allowed
    assert 'metadata.annotations["tenantgate.io/pod-security"]' in verdict.message


@pytest.mark.parametrize(("who", "allowed"), [(ADMIN, True), (ALICE, False), (STRANGER, False)])
def test_policies_are_written_by_platform_admins_only(who: Who, allowed: bool) -> None:
    policy = custom(KUBEOP, "Policy", "egress", egressAllowCIDRs=["0.0.0.0/0"])
    assert policy_writes(request(policy, who=who), world()).allowed is allowed


# -- cordon ------------------------------------------------------------------------------------------------

CORDONED = respec(ACME, cordoned=True)


@pytest.mark.parametrize(
    ("obj", "operation", "who", "allowed"),
    [
        (pod(), "CREATE", ALICE, False),
        (SHOP_IN_ACME, "UPDATE", ALICE, False),
        (project("acme-x", "acme", "x"), "CREATE", ALICE, False),
        (pod(), "CREATE", ADMIN, True),
        (pod(ns="kubeop-globex-shop"), "CREATE", BOB, True),
        (pod(ns="default"), "CREATE", STRANGER, True),
        (
            {**SHOP_IN_ACME, "metadata": {**SHOP_IN_ACME["metadata"], "deletionTimestamp": "2024-01-01T00:00:00Z"}},
            "UPDATE",
            ALICE,
            True,
        ),
    ],
)
def test_cordoned_tenant_freezes_creates_and_updates(
    obj: Mapping[str, Any], operation: str, who: Who, allowed: bool
) -> None:
    verdict = cordoned_tenant(
        request(obj, operation, old=obj if operation == "UPDATE" else None, who=who), world(replace=[CORDONED])
    )
    assert verdict.allowed is allowed
    if not allowed:
        assert 'Tenant "acme" spec.cordoned is true' in verdict.message


def test_uncordoned_tenant_is_not_frozen() -> None:
    assert cordoned_tenant(request(pod()), world()).allowed
