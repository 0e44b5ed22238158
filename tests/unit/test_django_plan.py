"""Both Django APIs normalise to one plan: the blindage API's documented example and the full thismatters fixture."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.reconcilers.django_plan import (
    PlanError,
    Step,
    child_name,
    label_value,
    plan_of,
    raw_config_refs,
    slugify,
    split_image,
    step_names,
)

pytestmark = pytest.mark.unit

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "manifests" / "django"

BLINDAGE_EXAMPLE = """\
apiVersion: blindage.org/v2
kind: Django
metadata: {name: my-project, namespace: default}
spec:
  image: registry.gitlab.com/my-organization/project-repo/master:11
  replicas: 2
  appPort: 8000
  appEnvs: {DJANGO_SUPERUSER_USERNAME: "root", DJANGO_SUPERUSER_EMAIL: root@root.xyz, ALLOWED_HOSTS: "*"}
  appEnvsSecrets: [my-project-secrets]
  appEnvsConfigmaps: [other-project-envs]
  appStaticPath: "/app/static"
  appMediaPath: "/app/media"
  runMigrate: true
  runCollectStatic: true
  persistentVolumeClaim: supershop-disk
"""


def load(name: str) -> dict[str, Any]:
    raw = yaml.safe_load((FIXTURES / name).read_text())
    raw["metadata"].setdefault("namespace", "apps")
    assert isinstance(raw, dict)
    return raw


def test_slugify_matches_upstream() -> None:
    assert slugify("bu.nch_of1  OTHEr__shit") == "bu-nch-of1-other-shit"


def test_blindage_example_plan() -> None:
    plan = plan_of(yaml.safe_load(BLINDAGE_EXAMPLE))
    assert plan.api == "blindage"
    assert (plan.name, plan.namespace) == ("my-project", "default")
    assert plan.image == "registry.gitlab.com/my-organization/project-repo/master:11"
    assert plan.version == "11"
    assert plan.web.replicas == 2
    assert plan.app_port == plan.service_port == 8000
    assert [dict(e) for e in plan.env] == [
        {"name": "DJANGO_SUPERUSER_USERNAME", "value": "root"},
        {"name": "DJANGO_SUPERUSER_EMAIL", "value": "root@root.xyz"},
        {"name": "ALLOWED_HOSTS", "value": "*"},
    ]
    assert [dict(s) for s in plan.env_from] == [
        {"configMapRef": {"name": "other-project-envs"}},
        {"secretRef": {"name": "my-project-secrets"}},
    ]
    assert plan.steps == (
        Step("migrate---noinput", ("migrate", "--noinput")),
        Step("collectstatic---noinput", ("collectstatic", "--noinput")),
    )
    assert [dict(v) for v in plan.volumes] == [
        {"name": "media", "persistentVolumeClaim": {"claimName": "supershop-disk"}}
    ]
    assert [dict(m) for m in plan.volume_mounts] == [{"name": "media", "mountPath": "/app/media"}]
    assert plan.worker is None
    assert plan.beat is None
    assert plan.redis_port is None
    assert plan.ingress is None
    assert plan.autoscalers == ()
    assert plan.needs_migration
    assert plan.config_refs == (("ConfigMap", "other-project-envs"), ("Secret", "my-project-secrets"))


def test_blindage_fixtures_load_after_migrate_and_collectstatic() -> None:
    raw = yaml.safe_load(BLINDAGE_EXAMPLE)
    raw["spec"]["fixtures"] = ["initial_data.json", "shop/fixtures/products.yaml"]
    plan = plan_of(raw)
    assert [step.args[0] for step in plan.steps] == ["migrate", "collectstatic", "loaddata"]
    assert plan.steps[-1].args == ("loaddata", "initial_data.json", "shop/fixtures/products.yaml")


def test_blindage_without_steps_needs_no_migration() -> None:
    raw = yaml.safe_load(BLINDAGE_EXAMPLE)
    raw["spec"].update(runMigrate=False, runCollectStatic=False)
    plan = plan_of(raw)
    assert plan.steps == ()
    assert not plan.needs_migration


def test_blindage_migrated_image_recorded_means_no_migration() -> None:
    raw = yaml.safe_load(BLINDAGE_EXAMPLE)
    raw["status"] = {"migratedImage": raw["spec"]["image"]}
    assert not plan_of(raw).needs_migration


def test_thismatters_full_plan() -> None:
    plan = plan_of(load("thismatters-full.yaml"))
    assert plan.api == "thismatters"
    assert plan.image == "registry.gitlab.com/money-positive/mp-app:6.9.420"
    assert plan.version == "6.9.420"
    assert plan.web.container == "app"
    assert plan.web.purpose_env == "app"
    assert plan.web.command == ("gunicorn",)
    assert plan.web.args == ("--bind", "0.0.0.0:8000", "mp.wsgi")
    assert plan.web.requests == {"memory": "200Mi", "cpu": "300m"}
    assert plan.web.probe == {
        "httpGet": {
            "scheme": "HTTP",
            "path": "/health/",
            "port": 8000,
            "httpHeaders": [{"name": "Host", "value": "testbed.money-positive.net"}],
        },
        "initialDelaySeconds": 30,
        "periodSeconds": 10,
        "timeoutSeconds": 1,
        "failureThreshold": 3,
    }
    assert plan.worker is not None
    assert plan.worker.args == ("-A", "mp", "worker", "-l", "info")
    assert plan.beat is not None
    assert plan.beat.replicas == 1
    assert plan.app_port == 8000
    assert plan.service_port == 8080
    assert plan.redis_port == 6379
    assert [dict(e) for e in plan.env] == [
        {"name": "DJANGO_SETTINGS_MODULE", "value": "mp.settings.production"},
        {"name": "DATABASE_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "mp-db", "key": "password"}}},
    ]
    assert [dict(s) for s in plan.env_from] == [
        {"configMapRef": {"name": "mp-config"}},
        {"secretRef": {"name": "mp-secrets"}},
        {"secretRef": {"name": "mp-mail"}},
        {"secretRef": {"name": "mp-stripe"}},
    ]
    assert [dict(s) for s in plan.image_pull_secrets] == [{"name": "gitlab-registry"}]
    assert [dict(v) for v in plan.volumes] == [{"name": "gcloud", "secret": {"secretName": "gcloud-credentials"}}]
    assert [dict(m) for m in plan.volume_mounts] == [
        {"name": "gcloud", "mountPath": "/var/secrets/google", "readOnly": True}
    ]
    assert [s.name for s in plan.steps] == ["migrate---noinput", "collectstatic---noinput"]
    assert plan.migration_deadline == 240
    assert plan.ingress is not None
    assert plan.ingress.host == "testbed.money-positive.net"
    assert [(a.component, a.minimum, a.maximum, a.cpu_utilization) for a in plan.autoscalers] == [("web", 1, 2, 70)]
    assert plan.config_refs == (
        ("ConfigMap", "mp-config"),
        ("Secret", "mp-secrets"),
        ("Secret", "mp-mail"),
        ("Secret", "mp-stripe"),
        ("Secret", "mp-db"),
        ("Secret", "gcloud-credentials"),
    )


def test_thismatters_defaults_plan() -> None:
    plan = plan_of(load("thismatters-defaults.yaml"))
    assert plan.web.requests == {"memory": "100Mi", "cpu": "300m"}
    assert plan.worker is not None
    assert plan.worker.requests == {"memory": "200Mi", "cpu": "300m"}
    assert plan.beat is not None
    assert plan.beat.requests == {"memory": "100Mi", "cpu": "50m"}
    assert plan.web.probe is not None
    assert plan.web.probe["failureThreshold"] == 6
    assert [(a.component, a.minimum, a.maximum, a.cpu_utilization) for a in plan.autoscalers] == [
        ("web", 1, 10, 60),
        ("worker", 1, 10, 60),
    ]
    assert plan.steps == ()
    assert not plan.needs_migration


@pytest.mark.parametrize(
    ("migration_version", "always", "needs"),
    [(None, False, True), ("6.9.419", False, True), ("6.9.420", False, False), ("6.9.420", True, True)],
)
def test_thismatters_needs_migration(migration_version: str | None, always: bool, needs: bool) -> None:
    raw = load("thismatters-full.yaml")
    raw["spec"]["alwaysRunMigrations"] = always
    if migration_version:
        raw["status"] = {"migrationVersion": migration_version}
    assert plan_of(raw).needs_migration is needs


@pytest.mark.parametrize("field", ["host", "image", "version", "clusterIssuer"])
def test_thismatters_missing_required_field(field: str) -> None:
    raw = load("thismatters-defaults.yaml")
    del raw["spec"][field]
    with pytest.raises(PlanError, match=f"spec.{field}"):
        plan_of(raw)


@pytest.mark.parametrize("purpose", ["app", "worker", "beat"])
def test_thismatters_missing_command(purpose: str) -> None:
    raw = load("thismatters-defaults.yaml")
    del raw["spec"]["commands"][purpose]
    with pytest.raises(PlanError, match=f"spec.commands.{purpose}.command"):
        plan_of(raw)


def test_thismatters_external_redis_url() -> None:
    raw = load("thismatters-defaults.yaml")
    raw["spec"]["env"] = [{"name": "REDIS_URL", "value": "redis://cache.example:6379/1"}]
    assert plan_of(raw).redis_port is None


def test_migration_step_label_not_copied() -> None:
    raw = load("thismatters-defaults.yaml")
    raw["metadata"]["labels"] = {"team": "blog", "migration-step": "ready"}
    assert dict(plan_of(raw).labels) == {"team": "blog"}


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("redis", ("redis", "latest")),
        ("redis:4.0", ("redis", "4.0")),
        ("localhost:5000/app", ("localhost:5000/app", "latest")),
        ("localhost:5000/app:2", ("localhost:5000/app", "2")),
        ("ghcr.io/a/b@sha256:abc", ("ghcr.io/a/b", "sha256:abc")),
    ],
)
def test_split_image(image: str, expected: tuple[str, str]) -> None:
    assert split_image(image) == expected


def test_step_names_unique_and_dns_valid() -> None:
    steps = step_names([["migrate"], ["migrate"], ["loaddata", "Fixtures/Initial.json"], []])
    assert [s.name for s in steps] == ["migrate", "migrate-1", "loaddata-fixtures-initial-json", "manage"]


def test_child_name_fits_a_dns_label() -> None:
    assert child_name("blog", "web") == "blog-web"
    long = child_name("a" * 80, "migrate-0123456789")
    assert len(long) == 63
    assert long.endswith("-migrate-0123456789")


def test_label_value() -> None:
    assert label_value("6.9.420") == "6.9.420"
    assert label_value("sha256:abc") == "sha256-abc"
    assert len(label_value("v" * 100)) == 63


def test_raw_config_refs_of_both_apis() -> None:
    assert raw_config_refs(yaml.safe_load(BLINDAGE_EXAMPLE)) == [
        ("ConfigMap", "other-project-envs"),
        ("Secret", "my-project-secrets"),
    ]
    assert raw_config_refs(load("thismatters-full.yaml"))[-1] == ("Secret", "gcloud-credentials")
    assert raw_config_refs({"spec": None}) == []
