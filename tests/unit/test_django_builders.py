"""Django builders, the migration Job, the rollout gate, config hashing and status: pure functions only."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.reconcilers.django import (
    CONFIG_HASH_ANNOTATION,
    IMAGE_ANNOTATION,
    VERSION_ANNOTATION,
    DjangoInputs,
    JobState,
    Release,
    common_name,
    config_hash,
    content_changed,
    created_names,
    decide_rollout,
    desired_children,
    django_status,
    job_name,
    job_state,
    migration_job,
    served_release,
)
from controller.reconcilers.django_plan import DjangoPlan, plan_of
from kube.store import Change
from tests.unit.test_django_plan import BLINDAGE_EXAMPLE

pytestmark = pytest.mark.unit

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "manifests" / "django"
NOW = "2024-01-01T00:00:00Z"


def thismatters(name: str = "thismatters-full.yaml", **spec: Any) -> dict[str, Any]:
    raw = yaml.safe_load((FIXTURES / name).read_text())
    raw["metadata"]["namespace"] = "apps"
    raw["metadata"]["labels"] = {"team": "mp"}
    raw["spec"].update(spec)
    assert isinstance(raw, dict)
    return raw


def target(plan: DjangoPlan) -> Release:
    return Release(plan.image, plan.version)


def by_name(children: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {f"{c['kind']}/{c['metadata']['name']}": c for c in children}


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    found = deployment["spec"]["template"]["spec"]["containers"][0]
    assert isinstance(found, dict)
    return found


# ---- children ----------------------------------------------------------------------------------------------


def test_blindage_example_children() -> None:
    plan = plan_of(yaml.safe_load(BLINDAGE_EXAMPLE))
    children = by_name(desired_children(plan, DjangoInputs(serve=target(plan), config_hash="h1")))
    assert sorted(children) == ["Deployment/my-project-web", "Service/my-project-web"]
    web = children["Deployment/my-project-web"]
    assert web["spec"]["replicas"] == 2
    assert web["spec"]["selector"]["matchLabels"] == {
        "app.kubernetes.io/name": "django",
        "app.kubernetes.io/instance": "my-project",
        "app.kubernetes.io/component": "web",
    }
    assert web["metadata"]["labels"]["app.kubernetes.io/version"] == "11"
    assert web["spec"]["template"]["metadata"]["annotations"] == {CONFIG_HASH_ANNOTATION: "h1"}
    pod = web["spec"]["template"]["spec"]
    assert pod["volumes"] == [{"name": "media", "persistentVolumeClaim": {"claimName": "supershop-disk"}}]
    app = container(web)
    assert app["name"] == "app"
    assert app["image"] == "registry.gitlab.com/my-organization/project-repo/master:11"
    assert app["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    assert [e["name"] for e in app["env"]] == ["DJANGO_SUPERUSER_USERNAME", "DJANGO_SUPERUSER_EMAIL", "ALLOWED_HOSTS"]
    assert app["envFrom"] == [
        {"configMapRef": {"name": "other-project-envs"}},
        {"secretRef": {"name": "my-project-secrets"}},
    ]
    assert app["volumeMounts"] == [{"name": "media", "mountPath": "/app/media"}]
    service = children["Service/my-project-web"]
    assert service["spec"]["ports"] == [{"name": "http", "port": 8000, "targetPort": 8000, "protocol": "TCP"}]
    assert service["spec"]["selector"] == web["spec"]["selector"]["matchLabels"]


def test_blindage_example_job() -> None:
    plan = plan_of(yaml.safe_load(BLINDAGE_EXAMPLE))
    job = migration_job(plan)
    assert job is not None
    assert job["metadata"]["name"] == job_name(plan)
    assert job["metadata"]["name"].startswith("my-project-migrate-")
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert [c["command"] for c in pod["initContainers"]] == [
        ["python", "manage.py", "migrate", "--noinput"],
        ["python", "manage.py", "collectstatic", "--noinput"],
    ]
    assert [c["name"] for c in pod["initContainers"]] == ["migrate---noinput", "collectstatic---noinput"]
    assert len(pod["containers"]) == 1
    assert all(c["envFrom"] == container(job)["envFrom"] for c in pod["initContainers"])
    assert pod["volumes"][0]["persistentVolumeClaim"] == {"claimName": "supershop-disk"}
    assert job["spec"]["backoffLimit"] <= 3
    assert job["metadata"]["labels"]["app.kubernetes.io/component"] == "migrate"


def test_thismatters_full_children() -> None:
    plan = plan_of(thismatters())
    children = by_name(desired_children(plan, DjangoInputs(serve=target(plan), config_hash="h")))
    assert sorted(children) == [
        "Deployment/mp-app-beat",
        "Deployment/mp-app-redis",
        "Deployment/mp-app-web",
        "Deployment/mp-app-worker",
        "HorizontalPodAutoscaler/mp-app-web",
        "Ingress/mp-app",
        "Service/mp-app-redis",
        "Service/mp-app-web",
    ]
    for child in children.values():
        labels = child["metadata"]["labels"]
        assert labels["team"] == "mp"
        assert labels["app.kubernetes.io/name"] == "django"
        assert labels["app.kubernetes.io/instance"] == "mp-app"
    web = children["Deployment/mp-app-web"]
    assert "replicas" not in web["spec"]
    assert web["metadata"]["annotations"] == {IMAGE_ANNOTATION: plan.image, VERSION_ANNOTATION: "6.9.420"}
    app = container(web)
    assert app["name"] == "app"
    assert app["image"] == "registry.gitlab.com/money-positive/mp-app:6.9.420"
    assert app["command"] == ["gunicorn"]
    assert app["args"] == ["--bind", "0.0.0.0:8000", "mp.wsgi"]
    assert [e["name"] for e in app["env"]] == [
        "CONTAINER_PURPOSE",
        "REDIS_HOST",
        "REDIS_URL",
        "DJANGO_SETTINGS_MODULE",
        "DATABASE_PASSWORD",
    ]
    assert app["env"][0] == {"name": "CONTAINER_PURPOSE", "value": "app"}
    assert app["env"][2] == {"name": "REDIS_URL", "value": "redis://mp-app-redis:6379/0"}
    assert app["livenessProbe"] == app["readinessProbe"]
    assert app["livenessProbe"]["httpGet"]["path"] == "/health/"
    assert app["resources"] == {"requests": {"memory": "200Mi", "cpu": "300m"}}
    assert web["spec"]["template"]["spec"]["imagePullSecrets"] == [{"name": "gitlab-registry"}]

    worker = children["Deployment/mp-app-worker"]
    init = worker["spec"]["template"]["spec"]["initContainers"]
    assert init[0]["command"] == ["sh", "-c", "until nslookup mp-app-redis; do sleep 3; done;"]
    assert container(worker)["env"][0] == {"name": "CONTAINER_PURPOSE", "value": "worker"}
    assert "livenessProbe" not in container(worker)

    beat = children["Deployment/mp-app-beat"]
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"] == {"type": "Recreate"}
    assert container(beat)["resources"] == {"requests": {"memory": "100Mi", "cpu": "50m"}}

    redis = children["Deployment/mp-app-redis"]
    assert container(redis)["image"] == "redis:4.0"
    assert redis["metadata"]["labels"]["app.kubernetes.io/component"] == "redis"
    assert children["Service/mp-app-redis"]["spec"]["ports"][0]["port"] == 6379
    assert children["Service/mp-app-web"]["spec"]["ports"][0] == {
        "name": "http",
        "port": 8080,
        "targetPort": 8000,
        "protocol": "TCP",
    }


def test_hpa_is_v2_with_threshold() -> None:
    plan = plan_of(thismatters())
    hpa = by_name(desired_children(plan, DjangoInputs(serve=target(plan))))["HorizontalPodAutoscaler/mp-app-web"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "mp-app-web"}
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (1, 2)
    assert hpa["spec"]["metrics"][0]["resource"] == {
        "name": "cpu",
        "target": {"type": "Utilization", "averageUtilization": 70},
    }


def test_ingress_annotations_and_tls() -> None:
    plan = plan_of(thismatters())
    ingress = by_name(desired_children(plan, DjangoInputs(serve=target(plan))))["Ingress/mp-app"]
    assert ingress["metadata"]["annotations"] == {
        "kubernetes.io/ingress.class": "nginx",
        "nginx.ingress.kubernetes.io/ssl-redirect": "true",
        "nginx.ingress.kubernetes.io/proxy-body-size": "4m",
        "cert-manager.io/cluster-issuer": "letsencrypt-prod",
        "cert-manager.io/common-name": "money-positive.net",
        "cert-manager.io/renew-before": "480h",
    }
    assert ingress["spec"]["tls"] == [
        {"hosts": ["money-positive.net", "testbed.money-positive.net"], "secretName": "mp-app-tls"}
    ]
    rule = ingress["spec"]["rules"][0]
    assert rule["host"] == "testbed.money-positive.net"
    assert rule["http"]["paths"][0]["backend"]["service"] == {"name": "mp-app-web", "port": {"number": 8080}}


def test_ingress_for_dotless_host() -> None:
    plan = plan_of(thismatters(host="intranet"))
    ingress = by_name(desired_children(plan, DjangoInputs(serve=target(plan))))["Ingress/mp-app"]
    assert ingress["metadata"]["annotations"]["cert-manager.io/common-name"] == "intranet"
    assert ingress["spec"]["tls"][0]["hosts"] == ["intranet"]


@pytest.mark.parametrize(("host", "expected"), [("a.b.c", "b.c"), ("intranet", "intranet"), ("trailing.", "trailing.")])
def test_common_name(host: str, expected: str) -> None:
    assert common_name(host) == expected


def test_nothing_serves_before_first_migration() -> None:
    plan = plan_of(thismatters())
    children = by_name(desired_children(plan, DjangoInputs(serve=None)))
    assert sorted(children) == [
        "Deployment/mp-app-redis",
        "Ingress/mp-app",
        "Service/mp-app-redis",
        "Service/mp-app-web",
    ]


def test_served_release_keeps_old_image() -> None:
    plan = plan_of(thismatters())
    old = Release("registry.gitlab.com/money-positive/mp-app:6.9.419", "6.9.419")
    web = by_name(desired_children(plan, DjangoInputs(serve=old)))["Deployment/mp-app-web"]
    assert container(web)["image"] == old.image
    assert web["metadata"]["labels"]["app.kubernetes.io/version"] == "6.9.419"
    assert served_release(web) == old


def test_redis_image_overridable_and_external_redis() -> None:
    plan = plan_of(thismatters())
    children = by_name(
        desired_children(plan, DjangoInputs(serve=target(plan), redis_image="docker.io/library/redis:7"))
    )
    assert container(children["Deployment/mp-app-redis"])["image"] == "docker.io/library/redis:7"
    external = plan_of(thismatters(env=[{"name": "REDIS_URL", "value": "redis://elsewhere:6379/0"}]))
    children = by_name(desired_children(external, DjangoInputs(serve=target(external))))
    assert "Deployment/mp-app-redis" not in children
    worker = children["Deployment/mp-app-worker"]
    assert "initContainers" not in worker["spec"]["template"]["spec"]
    assert [e["name"] for e in container(worker)["env"]] == ["CONTAINER_PURPOSE", "REDIS_URL"]


def test_two_djangos_do_not_collide() -> None:
    first, second = thismatters(), thismatters()
    second["metadata"]["name"] = "other"
    names = [
        {f"{c['kind']}/{c['metadata']['name']}" for c in desired_children(p, DjangoInputs(serve=target(p)))}
        for p in (plan_of(first), plan_of(second))
    ]
    assert not names[0] & names[1]
    assert job_name(plan_of(first)) != job_name(plan_of(second))


# ---- migration Job naming ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"version": "6.9.421"},
        {"image": "registry.gitlab.com/money-positive/mp-app2"},
        {"initManageCommands": [["migrate"]]},
    ],
)
def test_job_name_changes_with_what_it_runs(change: dict[str, Any]) -> None:
    assert job_name(plan_of(thismatters(**change))) != job_name(plan_of(thismatters()))


@pytest.mark.parametrize(
    "change",
    [
        {"env": [{"name": "X", "value": "1"}]},
        {"replicas": 3},
        {"resourceRequests": {"app": {"cpu": "1"}}},
        {"host": "other.example.com"},
    ],
)
def test_job_name_stable_otherwise(change: dict[str, Any]) -> None:
    raw = thismatters(**change)
    raw["metadata"]["generation"] = 7
    assert job_name(plan_of(raw)) == job_name(plan_of(thismatters()))


def test_always_run_migrations_gets_a_job_per_generation() -> None:
    first, second = thismatters(alwaysRunMigrations=True), thismatters(alwaysRunMigrations=True)
    first["metadata"]["generation"], second["metadata"]["generation"] = 1, 2
    assert job_name(plan_of(first)) != job_name(plan_of(second))


def test_thismatters_job_deadline_from_timeouts() -> None:
    job = migration_job(plan_of(thismatters(initManageTimeouts={"period": 10, "iterations": 6})))
    assert job is not None
    assert job["spec"]["activeDeadlineSeconds"] == 60


def test_no_steps_no_job() -> None:
    assert migration_job(plan_of(thismatters("thismatters-defaults.yaml"))) is None


# ---- rollout gate ------------------------------------------------------------------------------------------

NEW = Release("img:2", "2")
OLD = Release("img:1", "1")


@pytest.mark.parametrize(
    ("served", "needs", "job", "serve", "phase", "migrated"),
    [
        (OLD, False, JobState.ABSENT, NEW, "running", False),
        (None, False, JobState.ABSENT, NEW, "running", False),
        (OLD, True, JobState.ABSENT, OLD, "migrating", False),
        (OLD, True, JobState.RUNNING, OLD, "migrating", False),
        (None, True, JobState.RUNNING, None, "migrating", False),
        (OLD, True, JobState.SUCCEEDED, NEW, "running", True),
        (None, True, JobState.SUCCEEDED, NEW, "running", True),
        (OLD, True, JobState.FAILED, OLD, "degraded", False),
        (None, True, JobState.FAILED, None, "degraded", False),
        (NEW, True, JobState.RUNNING, NEW, "migrating", False),
    ],
)
def test_decide_rollout(
    served: Release | None, needs: bool, job: JobState, serve: Release | None, phase: str, migrated: bool
) -> None:
    rollout = decide_rollout(NEW, served, needs, job, "BackoffLimitExceeded: Job has reached the backoff limit")
    assert (rollout.serve, rollout.phase, rollout.migrated) == (serve, phase, migrated)
    if phase == "degraded":
        assert "BackoffLimitExceeded" in rollout.message


@pytest.mark.parametrize(
    ("job", "state"),
    [
        (None, JobState.ABSENT),
        ({"status": {}}, JobState.RUNNING),
        ({"status": {"conditions": [{"type": "Complete", "status": "True"}]}}, JobState.SUCCEEDED),
        (
            {"status": {"conditions": [{"type": "Failed", "status": "True", "reason": "R", "message": "M"}]}},
            JobState.FAILED,
        ),
        ({"status": {"conditions": [{"type": "Failed", "status": "False"}]}}, JobState.RUNNING),
    ],
)
def test_job_state(job: dict[str, Any] | None, state: JobState) -> None:
    assert job_state(job)[0] is state


def test_job_failure_message() -> None:
    failed = {"status": {"conditions": [{"type": "Failed", "status": "True", "reason": "R", "message": "M"}]}}
    assert job_state(failed) == (JobState.FAILED, "R: M")


# ---- config hash -------------------------------------------------------------------------------------------


def test_config_hash_follows_content() -> None:
    refs = [("ConfigMap", "a"), ("Secret", "b")]
    store: dict[tuple[str, str], dict[str, Any]] = {("ConfigMap", "a"): {"data": {"k": "1"}}}

    def lookup(kind: str, name: str) -> dict[str, Any] | None:
        return store.get((kind, name))

    first = config_hash(refs, lookup)
    assert first == config_hash(refs, lookup)
    store[("Secret", "b")] = {"data": {"p": "eA=="}}
    second = config_hash(refs, lookup)
    assert second != first
    store[("ConfigMap", "a")] = {"data": {"k": "1"}, "metadata": {"labels": {"x": "y"}}}
    assert config_hash(refs, lookup) == second
    store[("ConfigMap", "a")] = {"data": {"k": "2"}}
    assert config_hash(refs, lookup) != second
    assert config_hash([], lookup) == ""


def test_content_changed_predicate() -> None:
    old = {"metadata": {"name": "a", "resourceVersion": "1"}, "data": {"k": "1"}}
    relabelled = {"metadata": {"name": "a", "resourceVersion": "2", "labels": {"x": "y"}}, "data": {"k": "1"}}
    edited = {"metadata": {"name": "a", "resourceVersion": "3"}, "data": {"k": "2"}}
    assert not content_changed(Change("ns/a", old, relabelled))
    assert content_changed(Change("ns/a", old, edited))
    assert content_changed(Change("ns/a", None, old))


# ---- status ------------------------------------------------------------------------------------------------


def test_thismatters_status_running() -> None:
    raw = thismatters()
    raw["metadata"]["generation"] = 3
    plan = plan_of(raw)
    rollout = decide_rollout(target(plan), None, True, JobState.SUCCEEDED)
    children = desired_children(plan, DjangoInputs(serve=rollout.serve))
    status = django_status(raw, plan, rollout, "", children, None, NOW)
    assert status["condition"] == "running"
    assert status["version"] == "6.9.420"
    assert status["migrationVersion"] == "6.9.420"
    assert status["created"] == {
        "deployment": {"redis": "mp-app-redis", "app": "mp-app-web", "worker": "mp-app-worker", "beat": "mp-app-beat"},
        "service": {"redis": "mp-app-redis", "app": "mp-app-web"},
        "ingress": {"app": "mp-app"},
        "horizontalpodautoscaler": {"app": "mp-app-web"},
    }
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["Ready"]["status"] == "True"
    assert conditions["Degraded"]["status"] == "False"
    assert conditions["Ready"]["observedGeneration"] == 3
    assert "image" not in status
    assert "readyReplicas" not in status


def test_thismatters_status_migrating_keeps_old_version() -> None:
    raw = thismatters()
    raw["status"] = {"migrationVersion": "1", "version": "1", "condition": "running"}
    plan = plan_of(raw)
    rollout = decide_rollout(target(plan), Release("img:1", "1"), plan.needs_migration, JobState.RUNNING)
    status = django_status(raw, plan, rollout, "", [], None, NOW)
    assert (status["condition"], status["version"]) == ("migrating", "1")
    assert "migrationVersion" not in status
    conditions = {c["type"]: c["status"] for c in status["conditions"]}
    assert conditions == {"Ready": "True", "Progressing": "True", "Degraded": "False"}


def test_config_error_status() -> None:
    raw = thismatters()
    status = django_status(raw, None, None, "spec is missing required field(s) spec.host", [], None, NOW)
    assert status["condition"] == "degraded"
    degraded = next(c for c in status["conditions"] if c["type"] == "Degraded")
    assert (degraded["status"], degraded["reason"]) == ("True", "ConfigError")


def test_blindage_status() -> None:
    raw = yaml.safe_load(BLINDAGE_EXAMPLE)
    plan = plan_of(raw)
    rollout = decide_rollout(target(plan), None, True, JobState.SUCCEEDED)
    web = {"status": {"readyReplicas": 2}}
    status = django_status(raw, plan, rollout, "", [], web, NOW)
    assert status["condition"] == "running"
    assert status["image"] == status["migratedImage"] == plan.image
    assert status["readyReplicas"] == 2
    assert "created" not in status
    assert "migrationVersion" not in status
    assert "version" not in status


def test_created_names_ignores_unknown_components() -> None:
    assert created_names([{"kind": "Job", "metadata": {"name": "x", "labels": {}}}]) == {}


def test_plan_replace_keeps_builders_pure() -> None:
    plan = plan_of(thismatters())
    children = desired_children(plan, DjangoInputs(serve=target(plan)))
    assert desired_children(replace(plan), DjangoInputs(serve=target(plan))) == children
