"""The pure pieces of the controller benchmark: when an object is done, what the limit applies, how writes are
counted from the API server's metrics, the fitted line and the caught-up mark in the controller's log."""

from __future__ import annotations

import importlib
import math
from collections import Counter
from typing import Any

import pytest

controller = importlib.import_module("bench.controller")

READY = {"revision": "abc", "conditions": [{"type": "Ready", "status": "False"}]}


def app(status: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": "a"}, **({"status": status} if status is not None else {})}


@pytest.mark.parametrize(
    ("status", "revision", "done"),
    [
        (READY, True, True),
        (None, True, False),
        ({"revision": "abc"}, True, False),  # no Ready condition yet
        ({"conditions": [{"type": "Ready", "status": "True"}]}, True, False),  # no revision
        ({"conditions": [{"type": "Ready", "status": "True"}]}, False, True),  # a Project has none
    ],
)
def test_status_done_needs_a_ready_condition_and_the_revision_where_asked(
    status: dict[str, Any] | None, revision: bool, done: bool
) -> None:
    assert controller.status_done(app(status), revision=revision) is done


def test_missing_children_names_each_absent_child() -> None:
    found = {"Deployment": {"app-a", "app-b"}, "Service": {"app-a"}, "Ingress": {"app-a", "app-b"}}
    assert controller.missing_children(["a", "b"], found) == ["Service app-b"]
    assert controller.missing_children(["a"], found) == []


def test_as_applied_keeps_what_an_apply_sends_into_the_other_namespace() -> None:
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "app-a",
            "namespace": "kubeop-acme-web",
            "labels": {"app": "a", "app.kubernetes.io/managed-by": "tenantgate", "tenantgate.io/owner": "uid-1"},
            "annotations": {"deployment.kubernetes.io/revision": "1", "kubeop.io/revision": "abc"},
            "uid": "1",
            "resourceVersion": "9",
            "ownerReferences": [{"kind": "App", "name": "a"}],
            "managedFields": [{}],
        },
        "spec": {"clusterIP": "10.0.0.9", "clusterIPs": ["10.0.0.9"], "ports": [{"port": 80}]},
        "status": {"loadBalancer": {}},
    }
    assert controller.as_applied(service, "kubeop-acme-limit") == {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "app-a",
            # renamed: the controller's caches select on managed-by and its pruning on the owner label
            "labels": {
                "app": "a",
                "app.kubernetes.io/copy-managed-by": "tenantgate",
                "tenantgate.io/copy-owner": "uid-1",
            },
            "annotations": {"kubeop.io/revision": "abc"},
            "namespace": "kubeop-acme-limit",
        },
        "spec": {"ports": [{"port": 80}]},
    }
    assert service["spec"]["clusterIP"] == "10.0.0.9"  # the original is left alone
    assert "deployment.kubernetes.io/revision" in service["metadata"]["annotations"]
    assert service["metadata"]["labels"]["tenantgate.io/owner"] == "uid-1"


def test_as_applied_keeps_a_role_bindings_subjects_and_role() -> None:
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "owners", "namespace": "kubeop-acme-p0"},
        "roleRef": {"kind": "ClusterRole", "name": "admin"},
        "subjects": [{"kind": "User", "name": "alice"}],
    }
    applied = controller.as_applied(binding, "copy-kubeop-acme-p0")
    assert applied["roleRef"] == binding["roleRef"]
    assert applied["subjects"] == binding["subjects"]
    assert "spec" not in applied


def sample(group: str, resource: str, verb: str, value: int, subresource: str = "", code: str = "200") -> str:
    labels = f'code="{code}",component="apiserver",group="{group}",resource="{resource}",scope="resource"'
    return f'apiserver_request_total{{{labels},subresource="{subresource}",verb="{verb}",version="v1"}} {value}'


SCRAPE = "\n".join(
    [
        "# HELP apiserver_request_total x",
        sample("apps", "deployments", "APPLY", 3, code="201"),
        sample("apps", "deployments", "APPLY", 2),
        sample("paas.kubeop.io", "apps", "PATCH", 4, subresource="status"),
        sample("coordination.k8s.io", "leases", "PUT", 7),
        sample("apps", "deployments", "LIST", 11),
        'apiserver_request_duration_seconds_count{resource="deployments",verb="APPLY"} 99',
        "",
    ]
)


def test_request_counts_sum_codes_by_verb_and_resource() -> None:
    counts = controller.request_counts(SCRAPE)
    assert counts == Counter(
        {
            ("APPLY", "deployments"): 5,
            ("PATCH", "apps/status"): 4,
            ("PUT", "leases"): 7,
            ("LIST", "deployments"): 11,
        }
    )


def test_writes_are_the_difference_without_reads_and_leases() -> None:
    before = controller.request_counts(SCRAPE)
    after = controller.request_counts(
        SCRAPE.replace(sample("apps", "deployments", "APPLY", 2), sample("apps", "deployments", "APPLY", 12))
        .replace(sample("coordination.k8s.io", "leases", "PUT", 7), sample("coordination.k8s.io", "leases", "PUT", 70))
        .replace(sample("apps", "deployments", "LIST", 11), sample("apps", "deployments", "LIST", 110))
    )
    assert controller.writes(before, after) == Counter({"APPLY deployments": 10})
    assert controller.writes(before, after, exclude=()) == Counter({"APPLY deployments": 10, "PUT leases": 63})
    assert controller.writes(before, before) == Counter()
    assert controller.describe_writes(Counter()) == "none"


def test_fit_line_finds_slope_intercept_and_r2() -> None:
    exact = controller.fit_line([300, 1000, 3000], [2 + 0.01 * x for x in (300, 1000, 3000)])
    assert math.isclose(exact.slope, 0.01)
    assert math.isclose(exact.intercept, 2.0)
    assert math.isclose(exact.r2, 1.0)
    noisy = controller.fit_line([1, 2, 3], [1, 3, 2])
    assert math.isclose(noisy.slope, 0.5)
    assert math.isclose(noisy.r2, 0.25)
    with pytest.raises(ValueError, match="two distinct"):
        controller.fit_line([5, 5], [1, 2])


def test_caught_up_after_reads_the_seconds_of_the_first_mark() -> None:
    log = "\n".join(
        [
            '{"ts":"t","level":"info","msg":"controller manager started"}',
            "not json at all",
            '{"ts":"t","level":"info","msg":"controllers caught up","seconds":1.25}',
            '{"ts":"t","level":"info","msg":"controllers caught up","seconds":9}',
        ]
    )
    assert controller.caught_up_after(log) == 1.25
    assert controller.caught_up_after(log.split("\n", 1)[0]) is None
