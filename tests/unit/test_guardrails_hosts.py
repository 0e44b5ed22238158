"""Hosts stay within the tenant's domains and are never one another tenant already uses."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from admission.rules.hosts import allowed_hosts as allowed_hosts_rule
from admission.rules.hosts import domain_allows, reserving_pattern
from tests.unit.test_guardrails_support import (
    ADMIN,
    ALICE,
    BOB,
    GLOBEX,
    KUBEOP,
    STRANGER,
    custom,
    ingress,
    judged,
    namespace,
    request,
    respec,
    tenant,
    with_labels,
    world,
)

pytestmark = pytest.mark.unit

allowed_hosts = judged(allowed_hosts_rule)

Who = tuple[str, Sequence[str]]


@pytest.mark.parametrize(
    ("host", "patterns", "allowed"),
    [
        ("shop.acme.example", ["*.acme.example"], True),
        ("eu.shop.acme.example", ["*.acme.example"], True),
        ("acme.example", ["*.acme.example"], False),
        ("acme.example", ["acme.example"], True),
        ("shop.acme.example", ["acme.example"], False),
        ("evilacme.example", ["*.acme.example"], False),
        ("*.shop.acme.example", ["*.acme.example"], True),
        ("*.acme.example", ["*.acme.example"], True),
        ("*.example", ["*.acme.example"], False),
        ("*.acme.example", ["acme.example"], False),
        ("SHOP.ACME.EXAMPLE", ["*.Acme.Example."], True),
    ],
)
def test_wildcard_domains_allow_every_depth_below_but_not_the_apex(
    host: str, patterns: list[str], allowed: bool
) -> None:
    assert domain_allows(host.lower(), patterns) is allowed


@pytest.mark.parametrize(
    ("obj", "who", "allowed", "text"),
    [
        (ingress("i", "kubeop-acme-web", "api.acme.example"), ALICE, True, ""),
        (ingress("i", "kubeop-acme-web", "shop.acme.example"), ALICE, True, ""),
        (
            ingress("i", "kubeop-acme-web", "api.globex.example"),
            ALICE,
            False,
            'spec.rules[0].host "api.globex.example" is not within the allowed domains of tenant "acme"; '
            "allowed: *.acme.example, acme.example",
        ),
        (
            ingress("i", "kubeop-globex-shop", "shop.acme.example"),
            BOB,
            False,
            'spec.rules[0].host "shop.acme.example" is not within the allowed domains of tenant "globex"',
        ),
        (custom(KUBEOP, "App", "a", "kubeop-acme-web", host="API.acme.example."), ALICE, True, ""),
        (
            custom("thismatters.github/v1alpha", "Django", "d", "kubeop-acme-web", host="x.other.example"),
            ALICE,
            False,
            'spec.host "x.other.example" is not within',
        ),
    ],
)
def test_hosts_must_lie_in_the_tenants_domains(obj: Mapping[str, Any], who: Who, allowed: bool, text: str) -> None:
    verdict = allowed_hosts(request(obj, who=who), world())
    assert verdict.allowed is allowed
    assert text in verdict.message


def _open_globex() -> dict[str, Any]:
    return respec(GLOBEX, allowedDomains=None)


def test_a_host_of_another_tenant_is_denied_without_naming_it() -> None:
    obj = ingress("i", "kubeop-globex-shop", "shop.acme.example")
    verdict = allowed_hosts(request(obj, who=BOB), world(replace=[_open_globex()]))
    assert not verdict.allowed
    assert verdict.message == (
        'spec.rules[0].host "shop.acme.example" is in use by another tenant; a hostname belongs to one tenant '
        "only; allowed: a hostname no other tenant uses"
    )


def test_platform_admins_are_told_who_uses_the_host() -> None:
    obj = ingress("i", "kubeop-globex-shop", "shop.acme.example")
    verdict = allowed_hosts(request(obj, who=ADMIN), world(replace=[_open_globex()]))
    assert not verdict.allowed
    assert 'is in use by tenant "acme" (Ingress kubeop-acme-web/storefront)' in verdict.message


def test_tls_hosts_and_wildcard_claims_count() -> None:
    wildcard = ingress("wild", "kubeop-acme-web", "*.apps.acme.example")
    obj = {**ingress("i", "kubeop-globex-shop"), "spec": {"tls": [{"hosts": ["a.apps.acme.example"]}]}}
    verdict = allowed_hosts(request(obj, who=BOB), world(wildcard, replace=[_open_globex()]))
    assert not verdict.allowed
    assert verdict.message.startswith('spec.tls[0].hosts[0] "a.apps.acme.example" is in use by another tenant')


@pytest.mark.parametrize(
    ("labels", "who", "allowed"),
    [
        ({"app.kubeop.io/tenant": "globex"}, BOB, False),
        ({}, STRANGER, False),
        ({}, ADMIN, True),
        ({"app.kubeop.io/tenant": "acme"}, ALICE, True),
    ],
)
def test_cluster_scoped_records_follow_their_tenant_label(labels: Mapping[str, str], who: Who, allowed: bool) -> None:
    record = with_labels(custom(KUBEOP, "DNSRecord", "web", host="shop.acme.example", target="1.2.3.4"), labels)
    verdict = allowed_hosts(request(record, who=who), world(replace=[_open_globex()]))
    assert verdict.allowed is allowed


def test_admin_record_for_a_tenant_host_is_admitted_with_a_warning() -> None:
    record = custom(KUBEOP, "Certificate", "web", host="shop.acme.example")
    verdict = allowed_hosts(request(record, who=ADMIN), world())
    assert verdict.allowed
    assert verdict.warnings == (
        'spec.host "shop.acme.example" is also used by tenant "acme" (Ingress kubeop-acme-web/storefront)',
    )


def test_update_of_an_object_keeping_its_host_is_not_blocked_by_a_later_claim() -> None:
    old = ingress("i", "kubeop-globex-shop", "shop.acme.example")
    new = {**old, "metadata": {**old["metadata"], "labels": {"x": "y"}}}
    assert allowed_hosts(request(new, "UPDATE", old=old, who=BOB), world(replace=[_open_globex()])).allowed


def test_an_object_does_not_collide_with_itself() -> None:
    same = ingress("storefront", "kubeop-acme-web", "shop.acme.example", "new.acme.example")
    old = ingress("storefront", "kubeop-acme-web", "shop.acme.example")
    assert allowed_hosts(request(same, "UPDATE", old=old), world()).allowed


@pytest.mark.parametrize(
    ("claimed", "written"),
    [
        ("Shop.Acme.Example.", "shop.acme.example"),
        ("shop.acme.example", "Shop.Acme.Example."),
        ("bücher.acme.example", "xn--bcher-kva.acme.example"),
        ("xn--bcher-kva.acme.example", "BÜCHER.acme.example."),
    ],
)
def test_equivalent_forms_of_a_host_are_one_host_in_the_index_and_the_rule(claimed: str, written: str) -> None:
    app = custom(KUBEOP, "App", "a", "kubeop-acme-web", host=claimed)
    record = with_labels(
        custom(KUBEOP, "DNSRecord", "r", host=written, target="1.2.3.4"), {"app.kubeop.io/tenant": "globex"}
    )
    verdict = allowed_hosts(request(record, who=BOB), world(app, replace=[_open_globex()]))
    assert not verdict.allowed
    assert "is in use by another tenant" in verdict.message


def _globex_record(kind: str, host: str) -> dict[str, Any]:
    return with_labels(custom(KUBEOP, kind, "r", host=host, target="1.2.3.4"), {"app.kubeop.io/tenant": "globex"})


@pytest.mark.parametrize(
    "obj",
    [
        ingress("wild", "kubeop-globex-shop", "*.acme.example"),
        {**ingress("wild", "kubeop-globex-shop"), "spec": {"tls": [{"hosts": ["*.ACME.example."]}]}},
        _globex_record("Certificate", "*.acme.example"),
        _globex_record("DNSRecord", "*.acme.example"),
    ],
    ids=["ingress_rule", "ingress_tls", "certificate", "dnsrecord"],
)
def test_a_wildcard_covering_another_tenants_host_is_denied(obj: Mapping[str, Any]) -> None:
    verdict = allowed_hosts(request(obj, who=BOB), world(replace=[_open_globex()]))
    assert not verdict.allowed
    assert 'is in use by another tenant (it covers "shop.acme.example"); a hostname belongs to one tenant only; ' in (
        verdict.message
    )
    assert "a wildcard covers every name one label in its place" in verdict.message


def test_admins_are_told_which_host_a_wildcard_covers() -> None:
    verdict = allowed_hosts(
        request(ingress("wild", "kubeop-globex-shop", "*.acme.example"), who=ADMIN), world(replace=[_open_globex()])
    )
    assert 'is in use by tenant "acme" (Ingress kubeop-acme-web/storefront) (it covers "shop.acme.example")' in (
        verdict.message
    )


@pytest.mark.parametrize(
    ("claimed", "written", "allowed"),
    [
        ("*.apps.acme.example", "a.apps.acme.example", False),
        ("*.apps.acme.example", "A.Apps.Acme.Example.", False),
        ("*.apps.acme.example", "b.a.apps.acme.example", True),
        ("*.apps.acme.example", "apps.acme.example", True),
        ("a.apps.acme.example", "*.apps.acme.example", False),
        ("b.a.apps.acme.example", "*.apps.acme.example", True),
        ("apps.acme.example", "*.apps.acme.example", True),
        ("shop.acme.example", "*.example", True),
        ("*.apps.acme.example", "*.apps.acme.example", False),
        ("*.apps.acme.example", "*.a.apps.acme.example", True),
    ],
)
def test_a_wildcard_covers_exactly_one_label_as_in_ingress(claimed: str, written: str, allowed: bool) -> None:
    # globex is allowed every domain below example, acme's too, so only the collision rule separates them.
    shared = respec(GLOBEX, allowedDomains=["*.example"])
    view = world(ingress("mine", "kubeop-acme-web", claimed), replace=[shared])
    verdict = allowed_hosts(request(ingress("theirs", "kubeop-globex-shop", written), who=BOB), view)
    assert verdict.allowed is allowed, verdict.message


def test_a_tenants_wildcard_may_cover_its_own_hosts() -> None:
    assert allowed_hosts(request(ingress("wild", "kubeop-acme-web", "*.acme.example")), world()).allowed


def test_another_tenants_wildcard_blocks_new_hosts_it_covers() -> None:
    view = world(_globex_record("Certificate", "*.apps.acme.example"), replace=[_open_globex()])
    verdict = allowed_hosts(request(ingress("new", "kubeop-acme-web", "x.apps.acme.example")), view)
    assert not verdict.allowed
    assert 'is in use by another tenant (through wildcard "*.apps.acme.example")' in verdict.message


# ---- reserved domains: a domain allowed to one tenant is reserved for it ----------------------------------

IVAN: Who = ("ivan", ())  # owner of initech, which has no spec.allowedDomains
INITECH = tenant("initech", owners=[{"kind": "User", "name": "ivan"}])
INITECH_NS = namespace("kubeop-initech-web", "initech", "web")


def _initech(obj: Mapping[str, Any]) -> Any:
    return allowed_hosts(request(obj, who=IVAN), world(INITECH, INITECH_NS))


def _initech_record(kind: str, host: str) -> dict[str, Any]:
    return with_labels(custom(KUBEOP, kind, "r", host=host, target="1.2.3.4"), {"app.kubeop.io/tenant": "initech"})


@pytest.mark.parametrize(
    ("host", "patterns", "reserving"),
    [
        ("new.globex.example", ["*.globex.example"], "*.globex.example"),
        ("a.b.globex.example", ["*.globex.example"], "*.globex.example"),
        ("*.globex.example", ["*.globex.example"], "*.globex.example"),
        ("globex.example", ["*.globex.example"], None),
        ("acme.example", ["acme.example"], "acme.example"),
        ("*.example", ["acme.example"], "acme.example"),
        ("*.example", ["*.acme.example"], None),
        ("www.initech.example", ["*.globex.example", "acme.example"], None),
    ],
)
def test_which_entry_reserves_a_host(host: str, patterns: list[str], reserving: str | None) -> None:
    assert reserving_pattern(host, patterns) == reserving


@pytest.mark.parametrize(
    "obj",
    [
        ingress("i", "kubeop-initech-web", "new.globex.example"),
        {**ingress("i", "kubeop-initech-web"), "spec": {"tls": [{"hosts": ["New.Globex.Example."]}]}},
        custom(KUBEOP, "App", "a", "kubeop-initech-web", host="new.globex.example"),
        custom("thismatters.github/v1alpha", "Django", "d", "kubeop-initech-web", host="new.globex.example"),
        _initech_record("DNSRecord", "new.globex.example"),
        _initech_record("Certificate", "*.globex.example"),
    ],
    ids=["ingress-rule", "ingress-tls", "app", "django", "dnsrecord", "certificate-wildcard"],
)
def test_a_host_in_another_tenants_allowed_domains_is_reserved_for_it(obj: Mapping[str, Any]) -> None:
    verdict = _initech(obj)
    assert not verdict.allowed
    assert (
        '"*.globex.example", which another tenant\'s spec.allowedDomains reserves; a domain allowed to one tenant '
        "is reserved for it; allowed: a hostname outside every other tenant's allowed domains, or "
        '"*.globex.example" in spec.allowedDomains of tenant "initech", set by a platform admin'
    ) in verdict.message
    assert 'tenant "globex"' not in verdict.message


def test_a_wildcard_covering_another_tenants_exact_domain_is_reserved() -> None:
    verdict = _initech(ingress("i", "kubeop-initech-web", "*.example"))
    assert not verdict.allowed
    assert 'is within "acme.example", which another tenant' in verdict.message


def test_a_host_outside_every_tenants_domains_is_free() -> None:
    assert _initech(ingress("i", "kubeop-initech-web", "www.initech.example", "*.initech.example")).allowed


def test_a_domain_both_tenants_are_allowed_is_open_to_both() -> None:
    shared = tenant("initech", owners=[{"kind": "User", "name": "ivan"}], allowedDomains=["*.globex.example"])
    verdict = allowed_hosts(
        request(ingress("i", "kubeop-initech-web", "new.globex.example"), who=IVAN), world(shared, INITECH_NS)
    )
    assert verdict.allowed, verdict.message


def test_a_host_already_used_is_reported_as_the_collision() -> None:
    verdict = _initech(ingress("i", "kubeop-initech-web", "shop.acme.example"))
    assert not verdict.allowed
    assert 'spec.rules[0].host "shop.acme.example" is in use by another tenant' in verdict.message


def test_reserved_domains_bind_tenants_not_the_platform() -> None:
    record = custom(KUBEOP, "DNSRecord", "platform", host="new.globex.example", target="1.2.3.4")
    assert allowed_hosts(request(record, who=ADMIN), world(INITECH, INITECH_NS)).allowed


def test_an_update_keeping_a_host_reserved_since_is_not_blocked() -> None:
    old = ingress("i", "kubeop-initech-web", "new.globex.example")
    new = {**old, "metadata": {**old["metadata"], "labels": {"x": "y"}}}
    assert allowed_hosts(request(new, "UPDATE", old=old, who=IVAN), world(INITECH, INITECH_NS)).allowed
