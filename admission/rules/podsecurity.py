"""Pod security in tenant namespaces: the Pod Security Standards, checked on Pods and on pod templates.

The API server's own Pod Security Admission judges Pods only by namespace labels a tenant may be able to
change, and it only warns about Deployments; tenantgate denies a bad template when it is written, so the
mistake surfaces at `kubectl apply`, not as a ReplicaSet that silently cannot create pods.

Level **baseline** (every tenant): no host namespaces, no hostPath volumes, no privileged containers, added
capabilities only from the baseline set, no host ports, `procMount` Default, no Unconfined seccomp or AppArmor,
SELinux type from the container_* set and no user/role, only the safe sysctls, no Windows HostProcess.
tenantgate keeps kubeOP's extra rule at this level: `allowPrivilegeEscalation: true` is denied (kubeOP denied
it in tenant namespaces; its messages are kept word for word where the rule is the same).

Level **restricted** (a Tenant with `spec.podSecurity: restricted`, or, while the Tenant schema has no such
field, the annotation `tenantgate.io/pod-security: restricted` on the Tenant): additionally only
configMap/csi/downwardAPI/emptyDir/ephemeral/persistentVolumeClaim/projected/secret volumes,
`allowPrivilegeEscalation: false` set, `runAsNonRoot: true`, no `runAsUser: 0`, seccomp RuntimeDefault or
Localhost set, capabilities drop ALL and add at most NET_BIND_SERVICE (Windows pods are exempt from the
Linux-only ones, as in the standard).

Every violation is reported with its field path; on UPDATE only violations not present in `oldObject` deny.
The rules are written from the published standard, not derived from any implementation.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final

from admission.context import RequestContext
from admission.protocol import AdmissionRequest
from admission.rules.findings import Finding, new_findings, verdict_for
from admission.rules.guard import guardrail
from admission.rules.text import describe, list_at, q, spec_of
from admission.rules.workloads import WORKLOAD_KINDS, Container, PodSpec, containers_of, pod_spec_of
from admission.verdict import Verdict, allowed
from tenancy.tenants import RESTRICTED

POD_SECURITY_KINDS: Final = WORKLOAD_KINDS

BASELINE_CAPABILITIES: Final = (
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
)
_BASELINE_CAPABILITIES: Final = frozenset(BASELINE_CAPABILITIES)
SAFE_SYSCTLS: Final = (
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
    "net.ipv4.tcp_rmem",
    "net.ipv4.tcp_wmem",
)
_SAFE_SYSCTLS: Final = frozenset(SAFE_SYSCTLS)
SELINUX_TYPES: Final = ("container_t", "container_init_t", "container_kvm_t", "container_engine_t")
RESTRICTED_VOLUMES: Final = (
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
)
_RESTRICTED_VOLUMES: Final = frozenset(RESTRICTED_VOLUMES)
APPARMOR_PREFIX: Final = "container.apparmor.security.beta.kubernetes.io/"
HOST_NAMESPACES: Final = "host namespaces are not allowed (hostNetwork/hostPID/hostIPC)"


def _dict(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _finding(path: str, value: object, rule: str, instead: str, tag: str) -> Finding:
    shown = "unset" if value is None else q(value)
    return Finding(path, shown, f"{path} {shown}: {rule}; allowed: {instead}", key=(tag, path, shown))


def _security_contexts(pod: PodSpec, containers: Sequence[Container]) -> Iterator[tuple[str, Mapping[str, Any], str]]:
    """(path, securityContext, whose) for the pod and every container."""
    yield f"{pod.path}.securityContext", _dict(pod.spec.get("securityContext")), "the pod"
    for container in containers:
        yield (
            f"{container.path}.securityContext",
            _dict(container.body.get("securityContext")),
            (f"container {container.name}"),
        )


def _baseline(pod: PodSpec) -> Iterator[Finding]:
    spec = pod.spec
    containers = tuple(containers_of(pod))
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(field) is True:
            yield _finding(f"{pod.path}.{field}", True, HOST_NAMESPACES, "false or unset", "host-namespaces")
    for index, volume in enumerate(list_at(spec, "volumes", f"{pod.path}.volumes")):
        if isinstance(volume, dict) and volume.get("hostPath") is not None:
            yield _finding(
                f"{pod.path}.volumes[{index}].hostPath",
                volume.get("name", ""),
                "hostPath volumes are not allowed",
                "emptyDir, configMap, secret, persistentVolumeClaim or another volume that is not a host path",
                "host-path",
            )
    sysctls = _dict(spec.get("securityContext")).get("sysctls")
    for index, sysctl in enumerate(sysctls if isinstance(sysctls, list) else []):
        name = _dict(sysctl).get("name")
        if isinstance(name, str) and name not in _SAFE_SYSCTLS:
            yield _finding(
                f"{pod.path}.securityContext.sysctls[{index}].name",
                name,
                "unsafe sysctls are not allowed",
                ", ".join(SAFE_SYSCTLS),
                "sysctls",
            )
    meta_path = pod.path[: -len("spec")] + "metadata" if pod.path.endswith("spec") else "metadata"
    annotations = _dict(pod.metadata.get("annotations"))
    for key, value in annotations.items():
        if (
            key.startswith(APPARMOR_PREFIX)
            and isinstance(value, str)
            and value != "runtime/default"
            and not value.startswith("localhost/")
        ):
            yield _finding(
                f'{meta_path}.annotations["{key}"]',
                value,
                "AppArmor profiles other than the runtime's or a node-local one are not allowed",
                '"runtime/default" or "localhost/<profile>"',
                "apparmor",
            )
    for path, context_, whose in _security_contexts(pod, containers):
        windows = _dict(context_.get("windowsOptions"))
        if windows.get("hostProcess") is True:
            yield _finding(
                f"{path}.windowsOptions.hostProcess",
                True,
                f"{whose} is a Windows HostProcess, which is not allowed",
                "false or unset",
                "host-process",
            )
        seccomp = _dict(context_.get("seccompProfile")).get("type")
        if seccomp == "Unconfined":
            yield _finding(
                f"{path}.seccompProfile.type",
                seccomp,
                f"{whose} runs without a seccomp profile",
                "RuntimeDefault or Localhost",
                "seccomp",
            )
        apparmor = _dict(context_.get("appArmorProfile")).get("type")
        if apparmor == "Unconfined":
            yield _finding(
                f"{path}.appArmorProfile.type",
                apparmor,
                f"{whose} runs without an AppArmor profile",
                "RuntimeDefault or Localhost",
                "apparmor",
            )
        selinux = _dict(context_.get("seLinuxOptions"))
        selinux_type = selinux.get("type")
        if isinstance(selinux_type, str) and selinux_type and selinux_type not in SELINUX_TYPES:
            yield _finding(
                f"{path}.seLinuxOptions.type",
                selinux_type,
                f"{whose} uses a custom SELinux type",
                ", ".join(SELINUX_TYPES) + " or unset",
                "selinux",
            )
        for field in ("user", "role"):
            value = selinux.get(field)
            if isinstance(value, str) and value:
                yield _finding(
                    f"{path}.seLinuxOptions.{field}",
                    value,
                    f"{whose} sets an SELinux {field}",
                    "unset",
                    "selinux",
                )
    for container in containers:
        yield from _baseline_container(container)


def _baseline_container(container: Container) -> Iterator[Finding]:
    context_ = _dict(container.body.get("securityContext"))
    path = f"{container.path}.securityContext"
    name = container.name
    if context_.get("privileged") is True:
        yield _finding(f"{path}.privileged", True, f"container {name} is privileged", "false or unset", "privileged")
    if context_.get("allowPrivilegeEscalation") is True:
        yield _finding(
            f"{path}.allowPrivilegeEscalation",
            True,
            f"container {name} allows privilege escalation",
            "false or unset",
            "escalation",
        )
    added = _dict(context_.get("capabilities")).get("add")
    if isinstance(added, list):
        extra = [
            cap
            for cap in added
            if isinstance(cap, str) and cap.upper().removeprefix("CAP_") not in _BASELINE_CAPABILITIES
        ]
        if extra:
            yield _finding(
                f"{path}.capabilities.add",
                extra,
                f"container {name} adds capabilities outside the baseline set",
                ", ".join(BASELINE_CAPABILITIES),
                "capabilities",
            )
    proc_mount = context_.get("procMount")
    if proc_mount is not None and proc_mount != "Default":
        yield _finding(f"{path}.procMount", proc_mount, f"container {name} unmasks /proc", "Default", "proc-mount")
    ports = container.body.get("ports")
    for index, port in enumerate(ports if isinstance(ports, list) else []):
        host_port = _dict(port).get("hostPort")
        if isinstance(host_port, int) and host_port != 0:
            yield _finding(
                f"{container.path}.ports[{index}].hostPort",
                host_port,
                f"container {name} uses a host port",
                "0 or unset; expose the port through a Service",
                "host-port",
            )


def _restricted(pod: PodSpec) -> Iterator[Finding]:
    spec = pod.spec
    windows = _dict(spec.get("os")).get("name") == "windows"
    for index, volume in enumerate(list_at(spec, "volumes", f"{pod.path}.volumes")):
        if not isinstance(volume, dict):
            continue
        kinds = [key for key in volume if key != "name" and key != "hostPath" and key not in _RESTRICTED_VOLUMES]
        if kinds:
            yield _finding(
                f"{pod.path}.volumes[{index}].{kinds[0]}",
                volume.get("name", ""),
                f"{kinds[0]} volumes are not allowed at level restricted",
                ", ".join(RESTRICTED_VOLUMES),
                "volume-types",
            )
    pod_context = _dict(spec.get("securityContext"))
    pod_non_root = pod_context.get("runAsNonRoot") is True
    pod_seccomp = _dict(pod_context.get("seccompProfile")).get("type") in ("RuntimeDefault", "Localhost")
    if pod_context.get("runAsUser") == 0:
        yield _finding(
            f"{pod.path}.securityContext.runAsUser",
            0,
            "the pod runs as root",
            "a non-zero user id",
            "run-as-user",
        )
    for container in containers_of(pod):
        context_ = _dict(container.body.get("securityContext"))
        path = f"{container.path}.securityContext"
        name = container.name
        if not windows and context_.get("allowPrivilegeEscalation") is None:  # true was reported at baseline
            yield _finding(
                f"{path}.allowPrivilegeEscalation",
                None,
                f"container {name} allows privilege escalation (unset means true)",
                "false",
                "escalation",
            )
        non_root = context_.get("runAsNonRoot")
        if non_root is False or (non_root is None and not pod_non_root):
            yield _finding(
                f"{path}.runAsNonRoot",
                non_root,
                f"container {name} may run as root",
                f"true (here or in {pod.path}.securityContext)",
                "run-as-non-root",
            )
        if context_.get("runAsUser") == 0:
            yield _finding(
                f"{path}.runAsUser", 0, f"container {name} runs as root", "a non-zero user id", "run-as-user"
            )
        seccomp = _dict(context_.get("seccompProfile")).get("type")
        if not windows and seccomp is None and not pod_seccomp:
            yield _finding(
                f"{path}.seccompProfile.type",
                None,
                f"container {name} sets no seccomp profile",
                f"RuntimeDefault or Localhost (here or in {pod.path}.securityContext)",
                "seccomp",
            )
        if windows:
            continue
        capabilities = _dict(context_.get("capabilities"))
        dropped = capabilities.get("drop")
        if not (isinstance(dropped, list) and "ALL" in dropped):
            yield _finding(
                f"{path}.capabilities.drop",
                dropped,
                f"container {name} keeps default capabilities",
                '["ALL"]',
                "drop-all",
            )
        added = capabilities.get("add")
        if isinstance(added, list):
            names = [cap.upper().removeprefix("CAP_") for cap in added if isinstance(cap, str)]
            # Capabilities outside the baseline set were already reported at baseline.
            extra = [cap for cap in names if cap in _BASELINE_CAPABILITIES and cap != "NET_BIND_SERVICE"]
            if extra:
                yield _finding(
                    f"{path}.capabilities.add",
                    extra,
                    f"container {name} adds capabilities beyond NET_BIND_SERVICE",
                    '["NET_BIND_SERVICE"] or none',
                    "capabilities-restricted",
                )


def pod_security_findings(pod: PodSpec, level: str) -> list[Finding]:
    """Every violation of `level` in one pod spec; pure."""
    findings = list(_baseline(pod))
    if level == RESTRICTED:
        findings.extend(_restricted(pod))
    return findings


@guardrail("its pods")
def pod_security(request: AdmissionRequest, ctx: RequestContext) -> Verdict:
    """Deny Pods and pod templates in tenant namespaces that break the tenant's pod security level."""
    tenancy, rules = ctx.tenancy, ctx.rules
    level = rules.pod_security if rules is not None else "baseline"
    group, kind = request.kind.group, request.kind.kind

    def collect(source: Mapping[str, Any]) -> list[Finding]:
        pod = pod_spec_of(group, kind, source)
        return pod_security_findings(pod, level) if pod is not None else []

    fresh, kept = new_findings(request, collect)
    prefix = f"{describe(request)} violates pod security level {q(level)} of tenant {q(tenancy.tenant)}: "
    return verdict_for(fresh, kept, prefix=prefix)


# -- Django beat -------------------------------------------------------------------------------------------

DJANGO_KINDS: Final = (("thismatters.github", "Django"), ("blindage.org", "Django"))


def beat_replica_findings(obj: Mapping[str, Any]) -> list[Finding]:
    """Fields that would run other than exactly one Celery beat; pure.

    Neither served Django API has a beat replica field today (thismatters runs one beat by construction);
    these are the shapes a manifest could still carry: the early "MP Operator" `replicas: {beat: N}`, a
    `beatReplicas` or `beat.replicas` field kept by blindage's free-form spec, or an autoscaler for beat.
    """
    spec = spec_of(obj)
    findings = []
    why = "Celery beat must run exactly one replica (a second beat schedules every periodic task twice)"
    candidates = [
        (
            "spec.replicas.beat",
            _dict(spec.get("replicas")).get("beat") if isinstance(spec.get("replicas"), dict) else None,
        ),
        ("spec.beatReplicas", spec.get("beatReplicas")),
        ("spec.beat.replicas", _dict(spec.get("beat")).get("replicas")),
    ]
    for path, value in candidates:
        if value is not None and value != 1:
            findings.append(_finding(path, value, why, "1", "beat"))
    beat_autoscaler = _dict(_dict(spec.get("autoscalers")).get("beat"))
    if beat_autoscaler and beat_autoscaler.get("enabled") is not False:
        findings.append(
            _finding(
                "spec.autoscalers.beat",
                "enabled",
                f"{why}, so it cannot be autoscaled",
                "no autoscaler for beat (remove spec.autoscalers.beat or set enabled: false)",
                "beat",
            )
        )
    return findings


def django_beat_replicas(request: AdmissionRequest, ctx: RequestContext) -> Verdict:
    """Deny a Django whose spec would run other than exactly one beat replica."""
    if request.object is None:
        return allowed()
    fresh, kept = new_findings(request, beat_replica_findings)
    return verdict_for(fresh, kept)
