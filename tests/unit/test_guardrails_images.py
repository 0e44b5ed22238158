"""Every image, wherever it hides, comes from a registry both the platform and the tenant allow."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from admission.rules.images import allowed_registries as allowed_registries_rule
from admission.rules.images import images_of
from tests.unit.test_guardrails_support import (
    ACME,
    ADMIN,
    ALICE,
    KUBEOP,
    TENANTGATE,
    custom,
    judged,
    pod,
    request,
    respec,
    workload,
    world,
)

pytestmark = pytest.mark.unit

allowed_registries = judged(allowed_registries_rule)

BAD = "docker.io/evil/x:1"
GOOD = "ghcr.io/acme/app:1.0"
POD_SPEC_BAD_INIT = {"initContainers": [{"name": "init", "image": BAD}], "containers": [{"name": "a", "image": GOOD}]}
ACME_ALLOWED = "allowed: ghcr.io/acme/, registry.acme.example/"


@pytest.mark.parametrize(
    ("obj", "path"),
    [
        (pod(image=BAD), "spec.containers[0].image"),
        (workload("Deployment", POD_SPEC_BAD_INIT), "spec.template.spec.initContainers[0].image"),
        (workload("StatefulSet", POD_SPEC_BAD_INIT), "spec.template.spec.initContainers[0].image"),
        (workload("DaemonSet", POD_SPEC_BAD_INIT), "spec.template.spec.initContainers[0].image"),
        (workload("ReplicaSet", POD_SPEC_BAD_INIT), "spec.template.spec.initContainers[0].image"),
        (workload("Job", POD_SPEC_BAD_INIT), "spec.template.spec.initContainers[0].image"),
        (workload("CronJob", POD_SPEC_BAD_INIT), "spec.jobTemplate.spec.template.spec.initContainers[0].image"),
        (pod(image=GOOD, ephemeralContainers=[{"name": "dbg", "image": BAD}]), "spec.ephemeralContainers[0].image"),
        (custom("apps.shophub.local/v1", "Shop", "s", "kubeop-acme-web", image=BAD), "spec.image"),
        (custom("blindage.org/v2", "Django", "d", "kubeop-acme-web", image=BAD), "spec.image"),
        (
            custom(KUBEOP, "App", "a", "kubeop-acme-web", image=GOOD, hooks={"post": [{"image": BAD}]}),
            "spec.hooks.post[0].image",
        ),
    ],
)
def test_denies_images_outside_the_tenants_registries_with_their_path(obj: Mapping[str, Any], path: str) -> None:
    verdict = allowed_registries(request(obj), world())
    assert not verdict.allowed
    assert verdict.message.startswith(f'{path} "{BAD}" is not from an allowed registry of tenant "acme"')
    assert verdict.message.endswith(ACME_ALLOWED)


def test_thismatters_django_image_takes_its_tag_from_version() -> None:
    django = custom(
        "thismatters.github/v1alpha", "Django", "d", "kubeop-acme-web", image="docker.io/evil/x", version="1"
    )
    assert images_of("thismatters.github", "Django", django) == [("spec.image", BAD)]
    assert not allowed_registries(request(django), world()).allowed


@pytest.mark.parametrize(
    "image",
    [GOOD, "registry.acme.example/team/app:2", "GHCR.io/acme/app:3", f"ghcr.io/acme/app@sha256:{'b' * 64}"],
)
def test_admits_images_from_the_tenants_registries(image: str) -> None:
    assert allowed_registries(request(pod(image=image)), world()).allowed


def test_app_message_keeps_kubeops_phrase() -> None:
    app = custom(KUBEOP, "App", "a", "kubeop-acme-web", type="Image", image="evil.io/forbidden:latest")
    verdict = allowed_registries(request(app), world())
    assert not verdict.allowed
    assert "registry evil.io is not allowed" in verdict.message


@pytest.mark.parametrize(
    ("allowlist", "image", "allowed"),
    [
        ("docker.io,ghcr.io", "nginx:1.25", True),
        ("docker.io,ghcr.io", "library/nginx:1.25", True),
        ("DOCKER.IO", "nginx:1.25", True),
        ("docker.io,ghcr.io", "evil.io/forbidden:1", False),
        ("ghcr.io", "nginx:1.25", False),
        ("", "evil.io/forbidden:1", True),
    ],
)
def test_global_allowlist_applies_to_apps_everywhere(allowlist: str, image: str, allowed: bool) -> None:
    app = custom(KUBEOP, "App", "a", "default", type="Image", image=image)
    verdict = allowed_registries(request(app, who=ADMIN), world(KUBEOP_IMAGE_ALLOWLIST=allowlist))
    assert verdict.allowed is allowed
    if not allowed:
        assert "is not from an allowed registry of the platform" in verdict.message
        assert "KUBEOP_IMAGE_ALLOWLIST" in verdict.message


def test_global_allowlist_narrows_before_the_tenant() -> None:
    verdict = allowed_registries(request(pod(image=GOOD)), world(KUBEOP_IMAGE_ALLOWLIST="docker.io"))
    assert not verdict.allowed
    assert "allowed: docker.io/ (KUBEOP_IMAGE_ALLOWLIST)" in verdict.message


def test_tenant_regex_allows_matching_references() -> None:
    acme = respec(ACME, allowedRegistries={"exact": [], "regex": r"^docker\.io/library/(nginx|redis):"})
    view = world(replace=[acme])
    assert allowed_registries(request(pod(image="nginx:1.25")), view).allowed
    verdict = allowed_registries(request(pod(image="docker.io/library/postgres:16")), view)
    assert not verdict.allowed
    assert 'allowed: images matching "^docker\\\\.io/library/(nginx|redis):"' in verdict.message


def test_tenant_without_registry_narrowing_uses_the_global_allowlist_only() -> None:
    shop = custom("apps.shophub.local/v1", "Shop", "s", "kubeop-globex-shop", image="quay.io/x/y:1")
    assert allowed_registries(request(shop, who=("bob", ())), world()).allowed


@pytest.mark.parametrize("image", ["Nginx:1", "ghcr.io/Acme/app:1"])
def test_uppercase_repository_is_an_invalid_reference(image: str) -> None:
    verdict = allowed_registries(request(pod(image=image)), world())
    assert not verdict.allowed
    assert "is not a valid image reference" in verdict.message
    assert "lowercase" in verdict.message


@pytest.mark.parametrize(
    ("image", "warned"), [("ghcr.io/acme/app", True), ("ghcr.io/acme/app:latest", True), (GOOD, False)]
)
def test_unpinned_images_get_a_warning(image: str, warned: bool) -> None:
    verdict = allowed_registries(request(pod(image=image)), world())
    assert verdict.allowed
    assert bool(verdict.warnings) is warned
    assert all(len(w) <= 120 for w in verdict.warnings)


def test_outside_tenant_namespaces_workloads_and_shops_are_not_judged() -> None:
    assert allowed_registries(request(pod(ns="default", image=BAD)), world()).allowed
    shop = custom("apps.shophub.local/v1", "Shop", "s", "default", image=BAD)
    assert allowed_registries(request(shop), world()).allowed


def test_update_judges_only_images_that_changed() -> None:
    old = workload("Deployment", POD_SPEC_BAD_INIT)
    scaled = {**old, "spec": {**old["spec"], "replicas": 3}}
    verdict = allowed_registries(request(scaled, "UPDATE", old=old), world())
    assert verdict.allowed
    assert verdict.warnings
    assert verdict.warnings == (
        f'unchanged spec.template.spec.initContainers[0].image "{BAD}" breaks current policy; kept',
    )
    added = workload("Deployment", {**POD_SPEC_BAD_INIT, "containers": [{"name": "a", "image": "quay.io/x:1"}]})
    verdict = allowed_registries(request(added, "UPDATE", old=old), world())
    assert not verdict.allowed
    assert '"quay.io/x:1"' in verdict.message
    assert BAD not in verdict.message


def test_tenantgate_itself_is_not_judged() -> None:
    assert allowed_registries(request(pod(image=BAD), who=TENANTGATE), world()).allowed


def test_admins_are_held_to_the_tenants_registries_in_its_namespaces() -> None:
    assert not allowed_registries(request(pod(image=BAD), who=ADMIN), world()).allowed


def test_owner_sees_the_exact_message_of_the_contract() -> None:
    verdict = allowed_registries(request(workload("CronJob", POD_SPEC_BAD_INIT), who=ALICE), world())
    assert verdict.message == (
        'spec.jobTemplate.spec.template.spec.initContainers[0].image "docker.io/evil/x:1" is not from an allowed '
        'registry of tenant "acme"; allowed: ghcr.io/acme/, registry.acme.example/'
    )


DIGEST = "sha256:" + "a" * 64


NGINX_ENTRIES = ["docker.io/library/nginx", "nginx", "docker.io/nginx", "index.docker.io/library/nginx"]


@pytest.mark.parametrize("entry", NGINX_ENTRIES)
@pytest.mark.parametrize(
    "image",
    [
        "nginx:1.27",
        "docker.io/nginx:1.27",
        "docker.io/library/nginx:1.27",
        "index.docker.io/library/nginx:1.27",
        "registry-1.docker.io/library/nginx:1.27",
        "Docker.IO/library/nginx:1.27",
        f"nginx@{DIGEST}",
        f"INDEX.DOCKER.IO/library/nginx:1.27@{DIGEST}",
    ],
)
def test_every_form_of_an_allowed_image_is_allowed_by_every_form_of_its_entry(entry: str, image: str) -> None:
    view = world(replace=[respec(ACME, allowedRegistries={"exact": [entry]})])
    assert allowed_registries(request(pod(image=image)), view).allowed


@pytest.mark.parametrize(
    "image", ["nginx-evil:1", "docker.io/nginx/unit:1", "docker.io/library/nginxx:1", "quay.io/library/nginx:1"]
)
def test_a_docker_hub_image_entry_allows_that_image_only(image: str) -> None:
    view = world(replace=[respec(ACME, allowedRegistries={"exact": ["docker.io/library/nginx"]})])
    assert not allowed_registries(request(pod(image=image)), view).allowed


@pytest.mark.parametrize(
    ("allowlist", "image", "allowed"),
    [
        ("Docker.IO", "index.docker.io/library/nginx:1", True),
        ("nginx", "docker.io/library/nginx:1", True),
        ("nginx", "docker.io/library/redis:1", False),
        ("GHCR.IO/acme", "ghcr.io/acme/app:1", True),
    ],
)
def test_the_platform_allowlist_matches_equivalent_forms(allowlist: str, image: str, allowed: bool) -> None:
    app = custom(KUBEOP, "App", "a", "default", image=image)
    verdict = allowed_registries(request(app), world(KUBEOP_IMAGE_ALLOWLIST=allowlist))
    assert verdict.allowed is allowed


def test_rewriting_a_kept_image_in_an_equivalent_form_is_no_new_image() -> None:
    old = pod(image="quay.io/x:1")
    new = pod(image="QUAY.IO/x:1")
    verdict = allowed_registries(request(new, "UPDATE", old=old), world())
    assert verdict.allowed
    assert verdict.warnings == ('unchanged spec.containers[0].image "QUAY.IO/x:1" breaks current policy; kept',)
