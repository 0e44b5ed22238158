"""Ingress annotations that add server names or raw proxy configuration are judged like the Ingress's own hosts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from admission.rules.hosts import allowed_hosts as allowed_hosts_rule
from admission.rules.snippets import ingress_snippets as ingress_snippets_rule
from admission.rules.snippets import is_snippet_annotation
from tests.unit.test_guardrails_support import (
    ACME,
    ADMIN,
    ALICE,
    BOB,
    GLOBEX,
    TENANTGATE,
    ingress,
    judged,
    request,
    respec,
    world,
)

pytestmark = pytest.mark.unit

allowed_hosts = judged(allowed_hosts_rule)
ingress_snippets = judged(ingress_snippets_rule)

ALIAS = "nginx.ingress.kubernetes.io/server-alias"
ALLOW_SNIPPETS = {"tenantgate.io/ingress-snippets": "allowed"}


def annotated(obj: Mapping[str, Any], **annotations: str) -> dict[str, Any]:
    return {**obj, "metadata": {**obj["metadata"], "annotations": dict(annotations)}}


def _alias(ns: str, value: str, *hosts: str) -> dict[str, Any]:
    return annotated(ingress("i", ns, *hosts), **{ALIAS: value})


def _open_globex() -> dict[str, Any]:
    return respec(GLOBEX, allowedDomains=None)


@pytest.mark.parametrize(
    "value",
    [
        "shop.acme.example",
        "www.globex.example, shop.acme.example",
        "www.globex.example shop.acme.example",
        "*.acme.example",
    ],
)
def test_a_server_alias_of_another_tenants_host_is_denied(value: str) -> None:
    obj = _alias("kubeop-globex-shop", value, "www.globex.example")
    verdict = allowed_hosts(request(obj, who=BOB), world(replace=[_open_globex()]))
    assert not verdict.allowed
    assert f'metadata.annotations["{ALIAS}"] "' in verdict.message
    assert "is in use by another tenant" in verdict.message


def test_a_server_alias_claims_its_host_against_other_tenants() -> None:
    aliased = _alias("kubeop-acme-web", "api.acme.example", "web.acme.example")
    view = world(aliased, replace=[_open_globex()])
    verdict = allowed_hosts(request(ingress("x", "kubeop-globex-shop", "api.acme.example"), who=BOB), view)
    assert not verdict.allowed
    assert 'spec.rules[0].host "api.acme.example" is in use by another tenant' in verdict.message
    assert view.host_owner("api.acme.example") == "acme"


def test_a_server_alias_stays_within_the_allowed_domains() -> None:
    verdict = allowed_hosts(request(_alias("kubeop-acme-web", "evil.example")), world())
    assert not verdict.allowed
    assert f'metadata.annotations["{ALIAS}"] "evil.example" is not within the allowed domains' in verdict.message


@pytest.mark.parametrize("value", ["~^www\\d+\\.acme\\.example$", ".acme.example", "www.acme.*", "_"])
def test_a_server_alias_that_is_a_pattern_is_denied(value: str) -> None:
    verdict = allowed_hosts(
        request(_alias("kubeop-acme-web", value)), world(replace=[respec(ACME, allowedDomains=None)])
    )
    assert not verdict.allowed
    assert "is not a hostname: the ingress controller would read it as a server_name pattern" in verdict.message


def test_server_aliases_within_the_tenants_domains_are_admitted() -> None:
    obj = _alias("kubeop-acme-web", "www.acme.example,Api.Acme.Example.", "web.acme.example")
    assert allowed_hosts(request(obj), world()).allowed


@pytest.mark.parametrize(
    ("key", "snippet"),
    [
        ("nginx.ingress.kubernetes.io/configuration-snippet", "more_set_headers 'X: y';"),
        ("nginx.ingress.kubernetes.io/server-snippet", "location /x { return 200; }"),
        ("nginx.ingress.kubernetes.io/auth-snippet", "proxy_set_header A b;"),
        ("custom.prefix.example/server-snippet", "return 200;"),
        ("nginx.org/server-snippets", "return 200;"),
    ],
)
def test_snippet_annotations_are_denied_in_tenant_namespaces(key: str, snippet: str) -> None:
    obj = annotated(ingress("i", "kubeop-acme-web", "web.acme.example"), **{key: snippet})
    for who in (ALICE, ADMIN):
        verdict = ingress_snippets(request(obj, who=who), world())
        assert not verdict.allowed
        assert verdict.message.startswith(f'metadata.annotations["{key}"] ')
        assert "so they are not allowed in tenant namespaces" in verdict.message
        assert 'ask a platform admin to annotate Tenant "acme" tenantgate.io/ingress-snippets: allowed' in (
            verdict.message
        )


def test_a_tenant_annotated_by_an_admin_may_use_snippets() -> None:
    obj = annotated(ingress("i", "kubeop-acme-web"), **{"nginx.ingress.kubernetes.io/configuration-snippet": "x;"})
    view = world(replace=[{**ACME, "metadata": {**ACME["metadata"], "annotations": ALLOW_SNIPPETS}}])
    assert ingress_snippets(request(obj), view).allowed


@pytest.mark.parametrize(
    "snippet",
    ["server_name shop.acme.example;", "set $x 1;\n  SERVER_NAME evil.example;", "server_name\tevil.example;"],
)
def test_a_snippet_setting_server_name_is_denied_even_where_snippets_are_allowed(snippet: str) -> None:
    obj = annotated(ingress("i", "kubeop-acme-web"), **{"nginx.ingress.kubernetes.io/server-snippet": snippet})
    view = world(replace=[{**ACME, "metadata": {**ACME["metadata"], "annotations": ALLOW_SNIPPETS}}])
    verdict = ingress_snippets(request(obj), view)
    assert not verdict.allowed
    assert "sets server_name: a snippet may not add server names" in verdict.message


def test_snippets_outside_tenant_namespaces_and_by_tenantgate_are_not_judged() -> None:
    obj = annotated(ingress("i", "default"), **{"nginx.ingress.kubernetes.io/server-snippet": "server_name x;"})
    assert ingress_snippets(request(obj), world()).allowed
    inside = annotated(ingress("i", "kubeop-acme-web"), **{"nginx.ingress.kubernetes.io/server-snippet": "x;"})
    assert ingress_snippets(request(inside, who=TENANTGATE), world()).allowed


def test_an_unchanged_snippet_is_kept_on_update() -> None:
    old = annotated(ingress("i", "kubeop-acme-web"), **{"nginx.ingress.kubernetes.io/server-snippet": "x;"})
    new = {**old, "spec": {"rules": [{"host": "web.acme.example"}]}}
    verdict = ingress_snippets(request(new, "UPDATE", old=old), world())
    assert verdict.allowed
    assert verdict.warnings


@pytest.mark.parametrize(
    ("key", "snippet"),
    [
        ("nginx.ingress.kubernetes.io/server-snippet", True),
        ("nginx.org/location-snippets", True),
        ("nginx.ingress.kubernetes.io/server-alias", False),
        ("nginx.ingress.kubernetes.io/snippet-size", False),
        ("example.com/note", False),
    ],
)
def test_which_annotations_are_snippets(key: str, snippet: bool) -> None:
    assert is_snippet_annotation(key) is snippet
