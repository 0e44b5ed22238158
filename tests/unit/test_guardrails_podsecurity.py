"""Pod Security Standards on Pods and every pod template in tenant namespaces; one Django beat."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from admission.rules.podsecurity import django_beat_replicas as django_beat_replicas_rule
from admission.rules.podsecurity import pod_security as pod_security_rule
from tests.unit.test_guardrails_support import (
    ACME,
    ADMIN,
    TENANTGATE,
    custom,
    judged,
    pod,
    request,
    tenant,
    workload,
    world,
)

pytestmark = pytest.mark.unit

django_beat_replicas = judged(django_beat_replicas_rule)
pod_security = judged(pod_security_rule)

IMG = "ghcr.io/acme/app:1"


def _container(**security: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"name": "app", "image": IMG}
    if security:
        body["securityContext"] = security
    return body


def _spec(container: Mapping[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    return {"containers": [dict(container or _container())], **spec}


@pytest.mark.parametrize(
    ("spec", "annotations", "text"),
    [
        (
            _spec(hostNetwork=True),
            {},
            "spec.hostNetwork true: host namespaces are not allowed (hostNetwork/hostPID/hostIPC)",
        ),
        (_spec(hostPID=True), {}, "host namespaces are not allowed (hostNetwork/hostPID/hostIPC)"),
        (_spec(hostIPC=True), {}, "spec.hostIPC true"),
        (
            _spec(volumes=[{"name": "root", "hostPath": {"path": "/"}}]),
            {},
            'spec.volumes[0].hostPath "root": hostPath volumes are not allowed',
        ),
        (
            _spec(_container(privileged=True)),
            {},
            "spec.containers[0].securityContext.privileged true: container app is privileged",
        ),
        (_spec(_container(allowPrivilegeEscalation=True)), {}, "container app allows privilege escalation"),
        (
            _spec(_container(capabilities={"add": ["NET_ADMIN", "CHOWN"]})),
            {},
            'capabilities.add ["NET_ADMIN"]: container app adds capabilities outside the baseline set',
        ),
        (
            _spec({"name": "app", "image": IMG, "ports": [{"containerPort": 80, "hostPort": 8080}]}),
            {},
            "spec.containers[0].ports[0].hostPort 8080: container app uses a host port",
        ),
        (_spec(_container(procMount="Unmasked")), {}, 'procMount "Unmasked": container app unmasks /proc'),
        (
            _spec(securityContext={"seccompProfile": {"type": "Unconfined"}}),
            {},
            'spec.securityContext.seccompProfile.type "Unconfined": the pod runs without a seccomp profile',
        ),
        (_spec(_container(appArmorProfile={"type": "Unconfined"})), {}, "runs without an AppArmor profile"),
        (
            _spec(),
            {"container.apparmor.security.beta.kubernetes.io/app": "unconfined"},
            'metadata.annotations["container.apparmor.security.beta.kubernetes.io/app"] "unconfined"',
        ),
        (_spec(_container(seLinuxOptions={"type": "spc_t"})), {}, 'seLinuxOptions.type "spc_t"'),
        (_spec(securityContext={"seLinuxOptions": {"user": "system_u"}}), {}, 'seLinuxOptions.user "system_u"'),
        (
            _spec(securityContext={"sysctls": [{"name": "kernel.msgmax", "value": "1"}]}),
            {},
            'sysctls[0].name "kernel.msgmax": unsafe sysctls are not allowed',
        ),
        (_spec(_container(windowsOptions={"hostProcess": True})), {}, "is a Windows HostProcess"),
    ],
)
def test_baseline_violations_are_denied_with_their_field_path(
    spec: Mapping[str, Any], annotations: Mapping[str, str], text: str
) -> None:
    obj = pod(**spec)
    obj["spec"] = dict(spec)
    if annotations:
        obj["metadata"]["annotations"] = dict(annotations)
    verdict = pod_security(request(obj), world())
    assert not verdict.allowed
    assert verdict.message.startswith('Pod "p" violates pod security level "baseline" of tenant "acme": ')
    assert text in verdict.message
    assert "; allowed: " in verdict.message


@pytest.mark.parametrize(
    "spec",
    [
        _spec(),
        _spec(_container(capabilities={"add": ["NET_BIND_SERVICE", "CAP_CHOWN"]}, allowPrivilegeEscalation=False)),
        _spec(
            securityContext={
                "seccompProfile": {"type": "RuntimeDefault"},
                "sysctls": [{"name": "net.ipv4.tcp_syncookies", "value": "1"}],
            }
        ),
        _spec(_container(seLinuxOptions={"type": "container_init_t"}, procMount="Default")),
        _spec(volumes=[{"name": "tmp", "emptyDir": {}}], hostNetwork=False),
    ],
)
def test_baseline_admits_ordinary_pods(spec: Mapping[str, Any]) -> None:
    obj = pod()
    obj["spec"] = dict(spec)
    assert pod_security(request(obj), world()).allowed


@pytest.mark.parametrize(
    ("kind", "path"),
    [
        ("Deployment", "spec.template.spec.initContainers[0].securityContext.privileged"),
        ("StatefulSet", "spec.template.spec.initContainers[0].securityContext.privileged"),
        ("DaemonSet", "spec.template.spec.initContainers[0].securityContext.privileged"),
        ("ReplicaSet", "spec.template.spec.initContainers[0].securityContext.privileged"),
        ("Job", "spec.template.spec.initContainers[0].securityContext.privileged"),
        ("CronJob", "spec.jobTemplate.spec.template.spec.initContainers[0].securityContext.privileged"),
    ],
)
def test_pod_templates_are_checked_too(kind: str, path: str) -> None:
    spec = {**_spec(), "initContainers": [{"name": "init", "image": IMG, "securityContext": {"privileged": True}}]}
    verdict = pod_security(request(workload(kind, spec)), world())
    assert not verdict.allowed
    assert f"{path} true: container init is privileged" in verdict.message


def test_every_violation_is_listed() -> None:
    obj = pod()
    obj["spec"] = _spec(_container(privileged=True), hostPID=True, volumes=[{"name": "h", "hostPath": {"path": "/"}}])
    message = pod_security(request(obj), world()).message
    assert message.count("; allowed: ") == 3


RESTRICTED_TENANT = tenant(
    "acme",
    annotations={"tenantgate.io/pod-security": "restricted"},
    **{k: v for k, v in ACME["spec"].items() if k != "name"},
)
GOOD_RESTRICTED = _spec(
    _container(allowPrivilegeEscalation=False, capabilities={"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}),
    securityContext={"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
    volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": "d"}}],
)


def test_restricted_tenant_admits_a_hardened_pod() -> None:
    obj = pod()
    obj["spec"] = GOOD_RESTRICTED
    assert pod_security(request(obj), world(replace=[RESTRICTED_TENANT])).allowed


@pytest.mark.parametrize(
    ("change", "text"),
    [
        ({"containers": [_container()]}, "allowPrivilegeEscalation unset: container app allows privilege escalation"),
        (
            {"securityContext": {"seccompProfile": {"type": "RuntimeDefault"}}},
            "runAsNonRoot unset: container app may run as root",
        ),
        ({"securityContext": {"runAsNonRoot": True}}, "seccompProfile.type unset: container app sets no seccomp"),
        ({"volumes": [{"name": "n", "nfs": {"server": "x", "path": "/"}}]}, "spec.volumes[0].nfs"),
        (
            {"securityContext": {"runAsNonRoot": True, "runAsUser": 0, "seccompProfile": {"type": "RuntimeDefault"}}},
            "spec.securityContext.runAsUser 0: the pod runs as root",
        ),
    ],
)
def test_restricted_tenant_denies_what_baseline_allows(change: Mapping[str, Any], text: str) -> None:
    obj = pod()
    obj["spec"] = {**GOOD_RESTRICTED, **change}
    baseline = pod_security(request(obj), world())
    restricted = pod_security(request(obj), world(replace=[RESTRICTED_TENANT]))
    assert baseline.allowed
    assert not restricted.allowed
    assert 'level "restricted"' in restricted.message
    assert text in restricted.message


def test_restricted_requires_dropping_all_capabilities() -> None:
    obj = pod()
    obj["spec"] = {
        **GOOD_RESTRICTED,
        "containers": [_container(allowPrivilegeEscalation=False, capabilities={"add": ["CHOWN"]})],
    }
    message = pod_security(request(obj), world(replace=[RESTRICTED_TENANT])).message
    assert "capabilities.drop unset" in message
    assert 'capabilities.add ["CHOWN"]' in message


def test_outside_tenant_namespaces_pods_are_left_to_the_cluster() -> None:
    obj = pod(ns="default", hostNetwork=True)
    assert pod_security(request(obj), world()).allowed


@pytest.mark.parametrize(("who", "allowed"), [(ADMIN, False), (TENANTGATE, True)])
def test_only_tenantgate_is_exempt(who: tuple[str, tuple[str, ...]], allowed: bool) -> None:
    assert pod_security(request(pod(hostNetwork=True), who=who), world()).allowed is allowed


def test_update_keeps_an_admitted_template_updatable() -> None:
    old = workload("Deployment", _spec(hostNetwork=True))
    scaled = {**old, "spec": {**old["spec"], "replicas": 2}}
    verdict = pod_security(request(scaled, "UPDATE", old=old), world())
    assert verdict.allowed
    assert verdict.warnings
    worse = workload("Deployment", _spec(_container(privileged=True), hostNetwork=True))
    verdict = pod_security(request(worse, "UPDATE", old=old), world())
    assert not verdict.allowed
    assert "privileged" in verdict.message
    assert "hostNetwork" not in verdict.message


@pytest.mark.parametrize(
    ("spec", "allowed"),
    [
        ({"image": "x"}, True),
        ({"image": "x", "replicas": {"app": 2, "beat": 1}}, True),
        ({"image": "x", "replicas": {"app": 2, "beat": 2}}, False),
        ({"image": "x", "beatReplicas": 0}, False),
        ({"image": "x", "autoscalers": {"beat": {"enabled": True}}}, False),
        ({"image": "x", "autoscalers": {"beat": {"enabled": False}}}, True),
    ],
)
def test_django_beat_runs_exactly_one_replica(spec: Mapping[str, Any], allowed: bool) -> None:
    django = custom("blindage.org/v2", "Django", "d", "default", **spec)
    verdict = django_beat_replicas(request(django), world())
    assert verdict.allowed is allowed
    if not allowed:
        assert "Celery beat must run exactly one replica" in verdict.message
        assert "allowed: " in verdict.message
