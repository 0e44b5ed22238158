"""The in-memory ClusterView: lookups by name, namespace tenancy, and the host -> owner index."""

from __future__ import annotations

from typing import Any

import pytest

from admission.view import (
    INGRESS,
    NAMESPACE,
    TENANT,
    ClusterState,
    HostClaim,
    InMemoryClusterView,
    hosts_of,
)

pytestmark = pytest.mark.unit


def tenant(name: str) -> dict[str, Any]:
    return {"apiVersion": "paas.kubeop.io/v1alpha1", "kind": "Tenant", "metadata": {"name": name}}


def project(name: str, tenant_ref: str) -> dict[str, Any]:
    return {
        "apiVersion": "paas.kubeop.io/v1alpha1",
        "kind": "Project",
        "metadata": {"name": name},
        "spec": {"tenantRef": tenant_ref, "name": name},
    }


def namespace(name: str, tenant_name: str | None = None, project_name: str | None = None) -> dict[str, Any]:
    labels = {}
    if tenant_name:
        labels["app.kubeop.io/tenant"] = tenant_name
    if project_name:
        labels["app.kubeop.io/project"] = project_name
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def ingress(name: str, ns: str, *hosts: str, tls: tuple[str, ...] = (), created: str = "") -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": name, "namespace": ns, "creationTimestamp": created},
        "spec": {"rules": [{"host": h} for h in hosts], "tls": [{"hosts": list(tls)}] if tls else []},
    }


def host_object(
    kind: str,
    name: str,
    host: str,
    ns: str = "",
    labels: dict[str, str] | None = None,
    group: str = "paas.kubeop.io",
    version: str = "v1alpha1",
    created: str = "",
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "labels": labels or {}, "creationTimestamp": created}
    if ns:
        metadata["namespace"] = ns
    return {"apiVersion": f"{group}/{version}", "kind": kind, "metadata": metadata, "spec": {"host": host}}


OBJECTS = [
    tenant("acme"),
    tenant("globex"),
    project("web", "acme"),
    project("api", "acme"),
    project("shop", "globex"),
    namespace("kubeop-acme-web", "acme", "web"),
    namespace("kubeop-globex-shop", "globex", "shop"),
    namespace("plain"),
    ingress("site", "kubeop-acme-web", "Web.Acme.Example.", tls=("tls.acme.example",), created="2024-01-02T00:00:00Z"),
    ingress("legacy", "plain", "legacy.example"),
    host_object("App", "web", "app.acme.example", ns="kubeop-acme-web"),
    host_object("DNSRecord", "rec", "dns.globex.example", labels={"app.kubeop.io/tenant": "globex"}),
    host_object("Certificate", "cert", "cert.example"),
    host_object(
        "Django", "dj", "django.globex.example", ns="kubeop-globex-shop", group="thismatters.github", version="v1alpha"
    ),
    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ignored", "namespace": "plain"}},
]


@pytest.fixture
def view() -> InMemoryClusterView:
    return InMemoryClusterView.from_objects(OBJECTS)


def test_lookups_by_name(view: InMemoryClusterView) -> None:
    assert view.tenant("acme") == OBJECTS[0]
    assert view.tenant("nobody") is None
    assert view.tenant_names() == frozenset({"acme", "globex"})
    assert view.project("web") == OBJECTS[2]
    assert {p["metadata"]["name"] for p in view.projects_of("acme")} == {"web", "api"}
    assert view.namespace("plain") is not None


@pytest.mark.parametrize(
    ("ns", "tenant_name"),
    [("kubeop-acme-web", "acme"), ("kubeop-globex-shop", "globex"), ("plain", None), ("absent", None)],
)
def test_tenant_of_namespace_comes_from_its_labels(view: InMemoryClusterView, ns: str, tenant_name: str | None) -> None:
    assert view.tenant_of_namespace(ns) == tenant_name


@pytest.mark.parametrize(
    ("host", "owner"),
    [
        ("web.acme.example", "acme"),
        ("WEB.ACME.EXAMPLE.", "acme"),
        ("tls.acme.example", "acme"),
        ("app.acme.example", "acme"),
        ("dns.globex.example", "globex"),
        ("django.globex.example", "globex"),
        ("legacy.example", None),
        ("cert.example", None),
        ("unknown.example", None),
    ],
    ids=[
        "ingress_rule",
        "case_and_trailing_dot_ignored",
        "ingress_tls_host",
        "app_host",
        "cluster_scoped_object_label",
        "django_host",
        "ingress_outside_tenant",
        "cluster_scoped_without_label",
        "unclaimed",
    ],
)
def test_host_owner(view: InMemoryClusterView, host: str, owner: str | None) -> None:
    assert view.host_owner(host) == owner


def test_host_claims_list_every_claimant_oldest_first() -> None:
    view = InMemoryClusterView.from_objects(
        [
            namespace("a", "acme"),
            namespace("b", "globex"),
            ingress("new", "b", "shared.example", created="2024-05-01T00:00:00Z"),
            ingress("old", "a", "shared.example", created="2023-01-01T00:00:00Z"),
        ]
    )
    claims = view.host_claims("shared.example")
    assert [c.name for c in claims] == ["old", "new"]
    assert claims[0] == HostClaim(
        "shared.example", "networking.k8s.io", "Ingress", "a", "old", "acme", "2023-01-01T00:00:00Z"
    )
    assert view.host_owner("shared.example") == "acme"


def test_relabelled_namespace_changes_host_owner_without_reindexing() -> None:
    view = InMemoryClusterView.from_objects([namespace("n"), ingress("i", "n", "h.example")])
    assert view.host_owner("h.example") is None
    view.upsert(NAMESPACE, namespace("n", "acme"))
    assert view.host_owner("h.example") == "acme"


def test_updating_an_object_moves_its_hosts() -> None:
    view = InMemoryClusterView.from_objects([namespace("n", "acme"), ingress("i", "n", "old.example")])
    view.upsert(INGRESS, ingress("i", "n", "new.example"))
    assert view.host_claims("old.example") == ()
    assert view.host_owner("new.example") == "acme"
    view.delete(INGRESS, ingress("i", "n"))
    assert view.host_claims("new.example") == ()


def test_replace_drops_objects_missing_from_the_new_list() -> None:
    view = InMemoryClusterView.from_objects([tenant("a"), tenant("b")])
    view.replace(TENANT, [tenant("b")])
    assert view.tenant_names() == frozenset({"b"})


def test_synced_only_after_every_kind_is_listed() -> None:
    state = ClusterState()
    assert not state.synced
    for kind in state.unsynced_kinds():
        state.replace(kind, [])
    assert state.synced


def test_from_objects_unsynced_mimics_a_cold_start() -> None:
    view = InMemoryClusterView.from_objects([tenant("a")], synced=False)
    assert not view.synced
    assert view.tenant("a") is not None


@pytest.mark.parametrize(
    ("obj", "hosts"),
    [
        (ingress("i", "n", "a.example", "B.example", tls=("c.example",)), {"a.example", "b.example", "c.example"}),
        ({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {}, "spec": {"rules": [{}]}}, set()),
        (host_object("App", "a", " "), set()),
        ({"apiVersion": "paas.kubeop.io/v1alpha1", "kind": "App", "metadata": {}, "spec": "broken"}, set()),
    ],
    ids=["ingress_rules_and_tls", "rule_without_host", "blank_host", "malformed_spec"],
)
def test_hosts_of(obj: dict[str, Any], hosts: set[str]) -> None:
    group = obj["apiVersion"].rpartition("/")[0]
    assert hosts_of((group, obj["kind"]), obj) == hosts


def _wildcard_world() -> InMemoryClusterView:
    return InMemoryClusterView.from_objects(
        [
            namespace("a", "acme"),
            namespace("b", "globex"),
            ingress("shop", "a", "shop.apps.example", "deep.shop.apps.example", created="2024-01-01T00:00:00Z"),
            ingress("api", "a", "api.apps.example", created="2024-02-01T00:00:00Z"),
            ingress("other", "a", "www.other.example", created="2024-03-01T00:00:00Z"),
            ingress("wild", "b", "*.web.example", created="2024-04-01T00:00:00Z"),
        ]
    )


def test_a_wildcard_finds_the_claims_on_the_hosts_it_covers_one_label_deep() -> None:
    claims = _wildcard_world().host_claims("*.Apps.Example.")
    assert [(c.host, c.name, c.tenant) for c in claims] == [
        ("shop.apps.example", "shop", "acme"),
        ("api.apps.example", "api", "acme"),
    ]


def test_a_host_finds_the_wildcard_that_covers_it() -> None:
    view = _wildcard_world()
    assert [(c.host, c.tenant) for c in view.host_claims("x.web.example")] == [("*.web.example", "globex")]
    assert view.host_owner("x.web.example") == "globex"
    assert view.host_claims("y.x.web.example") == ()
    assert view.host_claims("web.example") == ()


def test_the_parent_index_follows_updates_and_deletes() -> None:
    view = _wildcard_world()
    view.upsert(INGRESS, ingress("api", "a", "api.elsewhere.example"))
    assert [c.host for c in view.host_claims("*.apps.example")] == ["shop.apps.example"]
    assert [c.host for c in view.host_claims("*.elsewhere.example")] == ["api.elsewhere.example"]
    view.delete(INGRESS, ingress("shop", "a"))
    assert view.host_claims("*.apps.example") == ()


def test_a_host_claimed_twice_stays_covered_until_both_claims_go() -> None:
    view = InMemoryClusterView.from_objects(
        [namespace("a", "acme"), ingress("one", "a", "shop.apps.example"), ingress("two", "a", "shop.apps.example")]
    )
    view.delete(INGRESS, ingress("one", "a"))
    assert [c.name for c in view.host_claims("*.apps.example")] == ["two"]
    view.delete(INGRESS, ingress("two", "a"))
    assert view.host_claims("*.apps.example") == ()
