"""The watch-fed view mirrors informer changes into the state admission reads, indexes included."""

from __future__ import annotations

import pytest

from admission.view import INGRESS, NAMESPACE, TENANT, WATCHED, ClusterState
from kube.store import Change
from webhook.watched import apply_change, watch_specs

pytestmark = pytest.mark.unit

NS = {
    "apiVersion": "v1",
    "kind": "Namespace",
    "metadata": {"name": "kubeop-acme-web", "labels": {"app.kubeop.io/tenant": "acme", "app.kubeop.io/project": "web"}},
}
INGRESS_OBJ = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "Ingress",
    "metadata": {"name": "shop", "namespace": "kubeop-acme-web", "creationTimestamp": "2026-01-01T00:00:00Z"},
    "spec": {"rules": [{"host": "shop.acme.example"}]},
}


def test_every_watched_kind_has_a_watch_spec() -> None:
    assert set(watch_specs("tenantgate-system")) == set(WATCHED)


def test_only_the_policy_configmap_is_watched() -> None:
    spec = watch_specs("platform")[("", "ConfigMap")]
    assert spec.namespace == "platform"
    assert spec.field_selector == "metadata.name=kubeop-policy"


def test_added_modified_deleted_reach_the_state_and_its_host_index() -> None:
    state = ClusterState()
    apply_change(state, NAMESPACE, Change("kubeop-acme-web", None, NS))
    apply_change(state, INGRESS, Change("kubeop-acme-web/shop", None, INGRESS_OBJ))
    assert state.tenant_of_namespace("kubeop-acme-web") == "acme"
    assert state.host_owner("shop.acme.example") == "acme"

    moved = {**INGRESS_OBJ, "spec": {"rules": [{"host": "store.acme.example"}]}}
    apply_change(state, INGRESS, Change("kubeop-acme-web/shop", INGRESS_OBJ, moved))
    assert state.host_owner("shop.acme.example") is None
    assert state.host_owner("store.acme.example") == "acme"

    apply_change(state, INGRESS, Change("kubeop-acme-web/shop", moved, None))
    assert state.host_claims("store.acme.example") == ()


def test_a_delete_of_an_unknown_object_is_harmless() -> None:
    state = ClusterState()
    apply_change(state, TENANT, Change("acme", {"metadata": {"name": "acme"}}, None))
    assert state.tenant("acme") is None
