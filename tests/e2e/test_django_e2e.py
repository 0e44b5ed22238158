"""Both Django APIs against a real control plane, driven through `tenantgate controller`.

There is no kubelet: a migration Job finishes when the test writes its status as the Job controller would after
its pod ended (`kubectl patch --subresource=status`). The rollout gate, a failed migration, a ConfigMap change
rolling the pods, two Djangos side by side and garbage collection are all checked on the API server itself.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from tenantgate.devcluster import ControlPlane
from tests.conftest import unique
from tests.e2e.test_controller_support import (
    LEASE_NAMESPACE,
    ControllerProcess,
    apply,
    eventually,
    get_json,
    install_platform,
)
from tests.unit.test_django_plan import BLINDAGE_EXAMPLE

pytestmark = pytest.mark.e2e

CONFIG_HASH = "tenantgate.io/config-hash"


@pytest.fixture(scope="module")
def controller(cluster: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControllerProcess]:
    install_platform(cluster, LEASE_NAMESPACE)
    process = ControllerProcess(
        cluster,
        LEASE_NAMESPACE,
        unique("django"),
        tmp_path_factory.mktemp("controller"),
        extra_env={"TENANTGATE_RECONCILERS": "django"},
    )
    process.start()
    eventually(process.is_leader, timeout=60, what="leadership")
    yield process
    code = process.stop()
    assert code == 0, process.log_tail()
    unexpected = [
        line
        for line in process.errors()
        if "because it is being terminated" not in line and '404 NotFound: namespaces \\"' not in line
    ]
    assert not unexpected, unexpected  # test namespaces are deleted while their Djangos may still reconcile


def thismatters(name: str, namespace: str, version: str = "1.0", **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "host": f"{name}.example.com",
        "image": "ghcr.io/example/blog",
        "version": version,
        "clusterIssuer": "letsencrypt",
        "commands": {
            "app": {"command": ["gunicorn"], "args": ["blog.wsgi"]},
            "worker": {"command": ["celery"], "args": ["-A", "blog", "worker"]},
            "beat": {"command": ["celery"], "args": ["-A", "blog", "beat"]},
        },
        **spec,
    }
    return {
        "apiVersion": "thismatters.github/v1alpha",
        "kind": "Django",
        "metadata": {"name": name, "namespace": namespace},
        "spec": body,
    }


def django(cluster: ControlPlane, api: str, namespace: str, name: str) -> dict[str, Any]:
    return get_json(cluster, f"djangos.{api}", name, "-n", namespace) or {}


def status_of(cluster: ControlPlane, api: str, namespace: str, name: str) -> dict[str, Any]:
    status = django(cluster, api, namespace, name).get("status") or {}
    assert isinstance(status, dict)
    return status


def jobs(cluster: ControlPlane, namespace: str, instance: str) -> list[dict[str, Any]]:
    listed = get_json(cluster, "jobs", "-n", namespace, "-l", f"app.kubernetes.io/instance={instance}") or {}
    return [j for j in listed.get("items", []) if not j["metadata"].get("deletionTimestamp")]


def image_of(cluster: ControlPlane, namespace: str, deployment: str) -> str | None:
    obj = get_json(cluster, "deployment", deployment, "-n", namespace)
    if obj is None:
        return None
    image = obj["spec"]["template"]["spec"]["containers"][0]["image"]
    return str(image)


def finish_job(cluster: ControlPlane, namespace: str, name: str, succeeded: bool) -> None:
    """Write the status the Job controller writes once the pod ended (the validation of 1.34 wants the
    interim condition, SuccessCriteriaMet or FailureTarget, next to the final one, and the times)."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    if succeeded:
        conditions = [
            {"type": "SuccessCriteriaMet", "status": "True", "reason": "CompletionsReached", "message": "Reached"},
            {"type": "Complete", "status": "True", "reason": "CompletionsReached", "message": "Reached"},
        ]
        status: dict[str, Any] = {"succeeded": 1, "completionTime": now}
    else:
        message = "Job has reached the specified backoff limit"
        conditions = [
            {"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded", "message": message},
            {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": message},
        ]
        status = {"failed": 3}
    for condition in conditions:
        condition.update(lastProbeTime=now, lastTransitionTime=now)
    status.update(startTime=now, active=0, ready=0, terminating=0, conditions=conditions)
    patch = json.dumps({"status": status})
    cluster.kubectl("patch", "job", name, "-n", namespace, "--subresource=status", "--type=merge", "-p", patch)


def events(cluster: ControlPlane, namespace: str, name: str) -> list[tuple[str, str, str]]:
    listed = get_json(cluster, "events.events.k8s.io", "-n", namespace) or {}
    return [
        (e.get("type", ""), e.get("reason", ""), e.get("note", ""))
        for e in listed.get("items", [])
        if e.get("regarding", {}).get("name") == name and e.get("regarding", {}).get("kind") == "Django"
    ]


def one_job(cluster: ControlPlane, namespace: str, instance: str, exclude: str = "") -> str:
    def find() -> str | None:
        found = [j["metadata"]["name"] for j in jobs(cluster, namespace, instance) if j["metadata"]["name"] != exclude]
        return found[0] if len(found) == 1 else None

    return str(eventually(find, timeout=60, what=f"one migration Job of {instance}"))


def test_blindage_example_converges(cluster: ControlPlane, controller: ControllerProcess, namespace: str) -> None:
    example = yaml.safe_load(BLINDAGE_EXAMPLE)
    example["metadata"]["namespace"] = namespace
    apply(cluster, example)
    job = one_job(cluster, namespace, "my-project")
    assert job.startswith("my-project-migrate-")
    eventually(
        lambda: status_of(cluster, "blindage.org", namespace, "my-project").get("condition") == "migrating",
        what="migrating",
    )
    assert image_of(cluster, namespace, "my-project-web") is None, "web must wait for the migration"
    finish_job(cluster, namespace, job, succeeded=True)
    eventually(
        lambda: image_of(cluster, namespace, "my-project-web") == example["spec"]["image"], what="web Deployment"
    )
    status = eventually(
        lambda: (s := status_of(cluster, "blindage.org", namespace, "my-project")).get("condition") == "running" and s,
        what="running",
    )
    assert status["migratedImage"] == example["spec"]["image"]
    assert {c["type"]: c["status"] for c in status["conditions"]}["Ready"] == "True"
    web = get_json(cluster, "deployment", "my-project-web", "-n", namespace) or {}
    assert web["spec"]["replicas"] == 2
    pod = web["spec"]["template"]["spec"]
    assert pod["volumes"] == [{"name": "media", "persistentVolumeClaim": {"claimName": "supershop-disk"}}]
    assert pod["containers"][0]["envFrom"] == [
        {"configMapRef": {"name": "other-project-envs"}},
        {"secretRef": {"name": "my-project-secrets"}},
    ]
    service = get_json(cluster, "service", "my-project-web", "-n", namespace) or {}
    assert service["spec"]["ports"][0]["targetPort"] == 8000
    eventually(
        lambda: ("Normal", "Ready", "New config running") in events(cluster, namespace, "my-project"),
        what="Ready event",
    )
    assert ("Normal", "Migrating", "Enacting new config") in events(cluster, namespace, "my-project")

    def quiet() -> bool:
        start = controller.writes()
        time.sleep(3)
        return controller.writes() == start

    eventually(quiet, timeout=30, what="a steady state without writes")


def test_thismatters_version_bump_waits_for_the_job(
    cluster: ControlPlane, controller: ControllerProcess, namespace: str
) -> None:
    commands = [["migrate", "--noinput"], ["loaddata", "initial"]]
    apply(cluster, thismatters("blog", namespace, initManageCommands=commands))
    first = one_job(cluster, namespace, "blog")
    finish_job(cluster, namespace, first, succeeded=True)
    for component in ("web", "worker", "beat"):
        eventually(
            lambda c=component: image_of(cluster, namespace, f"blog-{c}") == "ghcr.io/example/blog:1.0",
            what=f"{component} at 1.0",
        )
    eventually(
        lambda: status_of(cluster, "thismatters.github", namespace, "blog").get("migrationVersion") == "1.0",
        what="migrationVersion 1.0",
    )
    assert get_json(cluster, "deployment", "blog-redis", "-n", namespace) is not None
    assert get_json(cluster, "ingress", "blog", "-n", namespace) is not None
    beat = get_json(cluster, "deployment", "blog-beat", "-n", namespace) or {}
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"]["type"] == "Recreate"

    apply(cluster, thismatters("blog", namespace, version="1.1", initManageCommands=commands))
    second = one_job(cluster, namespace, "blog", exclude=first)
    assert second != first
    eventually(
        lambda: status_of(cluster, "thismatters.github", namespace, "blog").get("condition") == "migrating",
        what="migrating",
    )
    time.sleep(3)
    for component in ("web", "worker", "beat"):
        assert image_of(cluster, namespace, f"blog-{component}") == "ghcr.io/example/blog:1.0"
    job = get_json(cluster, "job", second, "-n", namespace) or {}
    init = job["spec"]["template"]["spec"]["initContainers"]
    assert [c["command"] for c in init] == [["python", "manage.py", *c] for c in commands]
    finish_job(cluster, namespace, second, succeeded=True)
    for component in ("web", "worker", "beat"):
        eventually(
            lambda c=component: image_of(cluster, namespace, f"blog-{c}") == "ghcr.io/example/blog:1.1",
            what=f"{component} at 1.1",
        )
    status = eventually(
        lambda: (s := status_of(cluster, "thismatters.github", namespace, "blog")).get("condition") == "running" and s,
        what="running at 1.1",
    )
    assert (status["version"], status["migrationVersion"]) == ("1.1", "1.1")
    assert status["created"]["deployment"]["app"] == "blog-web"
    eventually(
        lambda: [j["metadata"]["name"] for j in jobs(cluster, namespace, "blog")] == [second],
        what="the previous release's Job deleted",
    )


def test_failed_job_degrades(cluster: ControlPlane, controller: ControllerProcess, namespace: str) -> None:
    commands = [["migrate"]]
    apply(cluster, thismatters("shop", namespace, initManageCommands=commands))
    finish_job(cluster, namespace, one_job(cluster, namespace, "shop"), succeeded=True)
    eventually(lambda: image_of(cluster, namespace, "shop-web") == "ghcr.io/example/blog:1.0", what="web at 1.0")
    first = one_job(cluster, namespace, "shop")
    apply(cluster, thismatters("shop", namespace, version="2.0", initManageCommands=commands))
    second = one_job(cluster, namespace, "shop", exclude=first)
    finish_job(cluster, namespace, second, succeeded=False)
    status = eventually(
        lambda: (s := status_of(cluster, "thismatters.github", namespace, "shop")).get("condition") == "degraded" and s,
        what="degraded",
    )
    degraded = {c["type"]: c for c in status["conditions"]}["Degraded"]
    assert degraded["status"] == "True"
    assert "backoff limit" in degraded["message"]
    assert status["version"] == "1.0"
    assert image_of(cluster, namespace, "shop-web") == "ghcr.io/example/blog:1.0"
    eventually(
        lambda: any(t == "Warning" and r == "MigrationFailed" for t, r, _ in events(cluster, namespace, "shop")),
        what="MigrationFailed event",
    )


def test_configmap_change_rolls_and_two_djangos_share_a_namespace(
    cluster: ControlPlane, controller: ControllerProcess, namespace: str
) -> None:
    configmap = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "blog-env", "namespace": namespace},
        "data": {"DEBUG": "0"},
    }
    apply(
        cluster,
        configmap,
        thismatters("one", namespace, envFromConfigMapRefs=["blog-env"]),
        thismatters("two", namespace),
    )

    def template_hash() -> str | None:
        obj = get_json(cluster, "deployment", "one-web", "-n", namespace) or {}
        annotations = ((obj.get("spec") or {}).get("template") or {}).get("metadata", {}).get("annotations") or {}
        return annotations.get(CONFIG_HASH)

    before = eventually(template_hash, what="config hash on one-web")
    for name in ("one", "two"):
        for child in (
            f"deployment/{name}-web",
            f"deployment/{name}-worker",
            f"deployment/{name}-redis",
            f"service/{name}-web",
            f"ingress/{name}",
        ):
            eventually(lambda c=child: get_json(cluster, *c.split("/"), "-n", namespace), what=child)
    configmap["data"] = {"DEBUG": "1"}
    apply(cluster, configmap)
    eventually(lambda: (h := template_hash()) and h != before, what="config hash changed")


def test_deleting_the_django_collects_its_children(
    cluster: ControlPlane, controller: ControllerProcess, namespace: str
) -> None:
    apply(cluster, thismatters("gone", namespace, initManageCommands=[["migrate"]]))
    finish_job(cluster, namespace, one_job(cluster, namespace, "gone"), succeeded=True)
    eventually(lambda: get_json(cluster, "deployment", "gone-web", "-n", namespace), what="web")
    cluster.kubectl("delete", "djangos.thismatters.github", "gone", "-n", namespace, "--wait=false")

    def nothing_left() -> bool:
        listed = get_json(
            cluster, "deployments,services,ingresses,hpa,jobs", "-n", namespace, "-l", "app.kubernetes.io/instance=gone"
        ) or {"items": [1]}
        return not listed.get("items")

    eventually(nothing_left, timeout=90, interval=1, what="children garbage-collected")
