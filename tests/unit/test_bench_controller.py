"""The pure pieces of the controller benchmark: when an object is done, what the limit applies, how writes are
counted from the API server's metrics, the fitted line and the caught-up mark in the controller's log; for the
mix of Shops and Djangos, which write each stand-in operator makes, when each is ready, which children it has, and
its settings, row and target."""

from __future__ import annotations

import argparse
import importlib
import math
from collections import Counter
from pathlib import Path
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


# ---- Shops and Djangos ---------------------------------------------------------------------------------------

NOW = "2026-01-01T00:00:00Z"


def owned_by(kind: str, name: str) -> list[dict[str, Any]]:
    return [{"apiVersion": "x/v1", "kind": kind, "name": name, "uid": "u", "controller": True}]


def cluster(name: str = "s") -> dict[str, Any]:
    """A Cluster as a Shop builds it (`postgres_cluster`), as listed: with its uid and owner."""
    metadata = {"name": name, "namespace": "kubeop-acme-web", "uid": "c-1", "ownerReferences": owned_by("Shop", name)}
    return {
        "apiVersion": "postgresql.cnpg.io/v1",
        "kind": "Cluster",
        "metadata": metadata,
        "spec": {"instances": 1, "bootstrap": {"initdb": {"database": name, "owner": name}}},
    }


def job(conditions: list[dict[str, str]] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "d-migrate-1", "namespace": "kubeop-acme-web", "ownerReferences": owned_by("Django", "d")},
        "spec": {},
        **({"status": {"conditions": conditions}} if conditions is not None else {}),
    }


def deployment(owner: str, status: dict[str, Any] | None = None, generation: int = 2) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": "kubeop-acme-web",
            "generation": generation,
            "ownerReferences": owned_by(owner, "web"),
        },
        "spec": {"replicas": 2},
        **({"status": status} if status is not None else {}),
    }


READY_STATUS = {
    "observedGeneration": 2,
    "replicas": 2,
    "updatedReplicas": 2,
    "readyReplicas": 2,
    "availableReplicas": 2,
}


def test_a_cnpg_cluster_gets_its_app_secret_with_the_uri_the_shop_reads() -> None:
    write = controller.standin_write(cluster(), NOW, "pw")
    assert write is not None
    assert (write.what, write.method, write.path) == (
        "POST secrets",
        "POST",
        "/api/v1/namespaces/kubeop-acme-web/secrets",
    )
    assert write.key == "/api/v1/namespaces/kubeop-acme-web/secrets/s-app"
    secret = write.body
    assert secret["metadata"]["name"] == "s-app"
    assert secret["metadata"]["ownerReferences"][0]["uid"] == "c-1"
    assert secret["stringData"]["uri"] == "postgresql://s:pw@s-rw.kubeop-acme-web:5432/s"
    assert {"username", "password", "dbname", "host", "port", "uri"} <= secret["stringData"].keys()


@pytest.mark.parametrize(
    ("conditions", "due"),
    [
        (None, True),  # created, no status yet
        ([{"type": "Suspended", "status": "False"}], True),
        ([{"type": "Complete", "status": "True"}], False),
        ([{"type": "Failed", "status": "True"}], False),  # a final state: the stand-in never overrides it
    ],
)
def test_a_job_is_completed_until_it_has_a_final_condition(conditions: list[dict[str, str]] | None, due: bool) -> None:
    write = controller.standin_write(job(conditions), NOW, "pw")
    assert (write is not None) is due
    if write is not None:
        assert write.what == "PATCH jobs/status"
        assert write.path == "/apis/batch/v1/namespaces/kubeop-acme-web/jobs/d-migrate-1/status"
        assert write.content_type == "application/merge-patch+json"
        status = write.body["status"]
        assert {c["type"] for c in status["conditions"]} == {"SuccessCriteriaMet", "Complete"}
        assert status["succeeded"] == 1
        assert status["completionTime"] == NOW


@pytest.mark.parametrize(
    ("owner", "status", "due"),
    [
        ("Shop", None, True),
        ("Shop", {**READY_STATUS, "observedGeneration": 1}, True),  # ready at an older generation
        ("Shop", READY_STATUS, False),
        ("Django", None, False),  # a Django is Ready without its pods: the controller does not wait for them
    ],
)
def test_only_a_shops_deployment_is_made_ready(owner: str, status: dict[str, Any] | None, due: bool) -> None:
    write = controller.standin_write(deployment(owner, status), NOW, "pw")
    assert (write is not None) is due
    if write is not None:
        assert write.what == "PATCH deployments/status"
        assert write.body == {"status": READY_STATUS}


@pytest.mark.parametrize(
    "obj",
    [
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "n"}},
        {**cluster(), "metadata": {**cluster()["metadata"], "deletionTimestamp": NOW}},
    ],
)
def test_other_children_and_deleted_objects_get_no_stand_in_write(obj: dict[str, Any]) -> None:
    assert controller.standin_write(obj, NOW, "pw") is None


@pytest.mark.parametrize(
    ("obj", "ready"),
    [
        ({"kind": "Shop", "status": {"conditions": [{"type": "Available", "status": "True"}]}}, True),
        ({"kind": "Shop", "status": {"conditions": [{"type": "Available", "status": "False"}]}}, False),
        ({"kind": "Shop", "status": {"conditions": [{"type": "Ready", "status": "True"}]}}, False),
        ({"kind": "Django", "status": {"conditions": [{"type": "Ready", "status": "True"}]}}, True),
        ({"kind": "Django", "status": {"conditions": [{"type": "Ready", "status": "False"}]}}, False),
        ({"kind": "Django"}, False),
    ],
)
def test_mix_ready_is_available_for_a_shop_and_ready_for_a_django(obj: dict[str, Any], ready: bool) -> None:
    assert controller.mix_ready(obj) is ready


def test_mix_children_are_what_the_builders_give_a_converged_shop_and_django() -> None:
    wanted = controller.mix_children([controller.shop("s")], [controller.django("d")])
    jobs = [name for kind, name in wanted if kind == "Job"]
    assert len(jobs) == 1
    assert jobs[0].startswith("d-migrate-")
    assert {
        ("Cluster", "s"),
        ("Secret", "s-admin"),
        ("Deployment", "s"),
        ("Service", "s"),
        ("Ingress", "s"),
        ("ConfigMap", "s-dashboard"),
        ("ServiceMonitor", "s"),
        ("Deployment", "d-redis"),
        ("Deployment", "d-web"),
        ("Deployment", "d-worker"),
        ("Deployment", "d-beat"),
        ("Service", "d-redis"),
        ("Service", "d-web"),
        ("Ingress", "d"),
    } <= wanted
    assert {kind for kind, _ in wanted} <= controller.MIX_CHILDREN.keys()


def test_as_applied_lets_a_job_copy_get_its_own_selector_and_keeps_secret_data() -> None:
    live = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "d-migrate-1", "namespace": "kubeop-acme-web", "uid": "j"},
        "spec": {
            "backoffLimit": 2,
            "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "j"}},
            "template": {
                "metadata": {
                    "labels": {
                        "app.kubernetes.io/instance": "d",
                        "batch.kubernetes.io/controller-uid": "j",
                        "batch.kubernetes.io/job-name": "d-migrate-1",
                        "controller-uid": "j",
                        "job-name": "d-migrate-1",
                    }
                }
            },
        },
    }
    applied = controller.as_applied(live, "kubeop-acme-limit")
    assert "selector" not in applied["spec"]
    assert applied["spec"]["template"]["metadata"]["labels"] == {"app.kubernetes.io/instance": "d"}
    assert len(live["spec"]["template"]["metadata"]["labels"]) == 5  # the original is left alone
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s-admin"},
        "type": "Opaque",
        "data": {"p": "eA=="},
    }
    assert controller.as_applied(secret, "kubeop-acme-limit")["data"] == {"p": "eA=="}
    assert controller.as_applied(secret, "kubeop-acme-limit")["type"] == "Opaque"


def options(**given: Any) -> argparse.Namespace:
    defaults = {
        "sizes": None,
        "parts": None,
        "projects": None,
        "steady_apps": None,
        "idle": None,
        "restart_apps": None,
        "concurrency_apps": 16,
        "profile": None,
        "mix": None,
    }
    return argparse.Namespace(**{**defaults, **given})


@pytest.mark.parametrize(
    ("quick", "given", "mix"),
    [(False, {}, 150), (True, {}, 10), (True, {"mix": 4}, 4), (False, {"mix": 0}, 0)],
)
def test_mix_size_defaults_to_150_each_and_10_when_quick(quick: bool, given: dict[str, Any], mix: int) -> None:
    assert controller.settings_from(quick, options(**given)).mix == mix


def test_mix_is_a_default_part_with_a_platform_of_its_own() -> None:
    settings = controller.settings_from(True, options())
    assert "mix" in settings.parts
    plans = controller.plans_for(settings)
    assert plans[-1] == controller.Plan(mix=10)
    assert sum(1 for plan in plans if plan.mix) == 1
    only = controller.plans_for(controller.settings_from(True, options(parts="mix", mix=3)))
    assert only == [controller.Plan(mix=3)]
    assert controller.Plan(mix=3).profile(Path("/tmp/p.pstats")) == Path("/tmp/p-mix-3.pstats")


def converged(**given: Any) -> Any:
    values: dict[str, Any] = {
        "what": controller.MIX,
        "count": 300,
        "concurrency": 16,
        "creates": 2.0,
        "convergence": 12.0,
        "limit": 10.0,
        "children": 2400,
        "rss_mib": 80.0,
        "peak_rss_mib": 90.0,
        "writes": Counter({"POST shops": 150, "POST secrets": 150}),
        "standin_writes": Counter({"POST secrets": 150}),
    }
    return controller.Convergence(**{**values, **given})


def test_the_mix_row_names_the_stand_ins_writes_and_its_target() -> None:
    result = converged()
    [row] = controller.convergence_table([result]).rows
    assert row[0] == "Shops + Djangos"
    assert row[5] == "1.20x"
    assert row[7] == "POST secrets 150, POST shops 150 (of which stand-ins: POST secrets 150)"
    assert controller.targets([result]) == ["- 300 Shops + Djangos: 1.20x the limit (≤ 1.5x) met"]
    assert controller.targets([converged(convergence=16.0)]) == [
        "- 300 Shops + Djangos: 1.60x the limit (≤ 1.5x) **missed**"
    ]
    assert "(of which" not in controller.describe_all_writes(converged(standin_writes=Counter()))


def test_where_time_goes_gives_write_rates_and_when_each_kind_was_done() -> None:
    result = converged(
        cpu={"kube-apiserver": 4.0, "controller": 2.0},
        limit_cpu={"kube-apiserver": 2.0},
        limit_writes=Counter({"APPLY deployments": 100}),
        ready_after={"Shops": 3.5, "Djangos": 12.0},
    )
    [line] = controller.where_time_goes([result])
    assert "The API server took 300 writes in 14.00 s (21/s), the limit 100 in 10.00 s (10/s)." in line
    assert line.endswith(
        "The last of the Shops was done 3.50 s after the last create. "
        "The last of the Djangos was done 12.00 s after the last create."
    )
    assert controller.write_rates(converged()) == ""  # no limit counted: nothing to compare


CONTROLLER_SCRAPE = "\n".join(
    [
        "# TYPE tenantgate_controller_reconcile_duration_seconds histogram",
        'tenantgate_controller_reconcile_duration_seconds_bucket{kind="Shop",le="0.1"} 3',
        'tenantgate_controller_reconcile_duration_seconds_sum{kind="Shop"} 1.5',
        'tenantgate_controller_reconcile_duration_seconds_count{kind="Shop"} 4',
        'tenantgate_controller_reconcile_duration_seconds_sum{kind="App"} 0.25',
        'tenantgate_controller_reconcile_duration_seconds_count{kind="App"} 2',
        'tenantgate_controller_reconcile_total{kind="Shop",result="success"} 4',
    ]
)


def test_reconciles_are_read_from_the_duration_histogram_and_differenced() -> None:
    before = controller.reconcile_totals(CONTROLLER_SCRAPE)
    assert before == {"Shop": (4, 1.5), "App": (2, 0.25)}
    after = controller.reconcile_totals(
        CONTROLLER_SCRAPE.replace('_sum{kind="Shop"} 1.5', '_sum{kind="Shop"} 4.0').replace(
            '_count{kind="Shop"} 4', '_count{kind="Shop"} 14'
        )
    )
    assert controller.reconciles_between(before, after) == {"Shop": (10, 2.5)}  # App did nothing
    assert controller.describe_reconciles({"App": (2, 0.5), "Shop": (10, 2.5)}) == (
        " Reconciles: Shop 10 (2.5 s in them), App 2 (0.5 s in them)."
    )
    assert controller.describe_reconciles({}) == ""


def test_a_run_without_apps_has_no_fitted_line_to_ask_for() -> None:
    assert controller.fit_lines([converged()]) == []
    assert controller.fit_lines([converged(what="Apps")])[0].startswith("Too few sizes")
