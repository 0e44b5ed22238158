"""Namespace integrity: the tenancy labels are tenantgate's, and an App lives in its Project's namespace.

The labels `app.kubeop.io/tenant` and `app.kubeop.io/project` decide which tenant's guardrails apply in a
namespace (and the webhook configurations route tenant workloads by them). If a tenant could remove them, it
would step out of its guardrails; if it could add them, it could pull someone else's namespace into its
tenant. So only tenantgate (which labels the namespaces of Projects) and platform admins may create a namespace
carrying them, or add, change or remove them.

A tenant namespace also carries Pod Security Admission labels (`pod-security.kubernetes.io/*`) at the tenant's
pod security level, so the API server itself refuses what the level forbids. In a namespace labelled for a
tenant (before or after the write), those labels are guarded the same way: a tenant cannot lower its own floor.

kubeOP's App rule is kept, with its phrase `namespace not owned by a tenant/project`: an App's namespace must
carry both labels and be named `kubeop-<tenant>-<project>` after them. Unlike kubeOP, it fails closed: a
namespace the view does not know is a deny that says to retry, not an allow. The rule judges CREATE; an App is
never moved (metadata.namespace is immutable), so on UPDATE a namespace that has since lost its labels only
produces a warning and the App stays updatable.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from admission.context import RequestContext
from admission.protocol import AdmissionRequest
from admission.rules.text import q
from admission.verdict import Verdict, allowed, denied
from admission.view import ClusterView, labels_of
from tenancy.labels import POD_SECURITY_LABEL_PREFIX, PROJECT_LABEL, TENANT_LABEL
from tenancy.namespaces import NAMESPACE_PREFIX

TENANCY_LABELS: Final = (TENANT_LABEL, PROJECT_LABEL)
UPSTREAM_PHRASE: Final = "namespace not owned by a tenant/project"


def _label_value(labels: Mapping[str, str], key: str) -> str | None:
    value = labels.get(key)
    return value if isinstance(value, str) else None


def _guarded_keys(new: Mapping[str, str], old: Mapping[str, str]) -> list[str]:
    """The labels only tenantgate and admins write: tenancy labels, and pod security ones of tenant namespaces."""
    keys = list(TENANCY_LABELS)
    if new.get(TENANT_LABEL) or old.get(TENANT_LABEL):
        keys += sorted({key for key in (*new, *old) if key.startswith(POD_SECURITY_LABEL_PREFIX)})
    return keys


def namespace_labels(request: AdmissionRequest, ctx: RequestContext) -> Verdict:
    """Only tenantgate and platform admins may set, change or remove a namespace's guarded labels."""
    if request.operation not in ("CREATE", "UPDATE") or request.object is None:
        return allowed()
    new = labels_of(request.object)
    old = labels_of(request.old_object) if request.operation == "UPDATE" else {}
    changes = [
        (key, _label_value(old, key), _label_value(new, key))
        for key in _guarded_keys(new, old)
        if _label_value(old, key) != _label_value(new, key)
    ]
    if not changes:
        return allowed()
    if ctx.actor.admin:
        return allowed()
    key, before, after = changes[0]
    path = f'metadata.labels["{key}"]'
    if request.operation == "CREATE":
        what = f"{path} {q(after)}: creating a namespace with a tenancy label"
    elif after is None:
        what = f"{path} {q(before)}: removing the label"
    elif before is None:
        what = f"{path} {q(after)}: adding the label"
    else:
        what = f"{path} {q(after)}: changing the label from {q(before)}"
    if key.startswith(POD_SECURITY_LABEL_PREFIX):
        return denied(
            f"{what} of Namespace {q(request.name)} is reserved to tenantgate and platform admins, because the API "
            "server enforces the tenant's pod security level with these labels; allowed: leave the "
            f"{POD_SECURITY_LABEL_PREFIX}* labels as they are (a platform admin sets the level on the Tenant)"
        )
    return denied(
        f"{what} of Namespace {q(request.name)} is reserved to tenantgate and platform admins, because these labels "
        f"decide which tenant's guardrails apply; allowed: leave {TENANT_LABEL} and {PROJECT_LABEL} as they are "
        "(create a Project to get a tenant namespace)"
    )


def app_namespace(request: AdmissionRequest, ctx: RequestContext) -> Verdict:
    """kubeOP's rule, failing closed: an App must be created in its Project's labelled namespace."""
    if request.object is None:
        return allowed()
    problem = _app_namespace_problem(request, ctx.view)
    if problem is None:
        return allowed()
    if request.operation == "UPDATE":
        return allowed(warnings=[f"{UPSTREAM_PHRASE}: {request.namespace}; the App stays updatable"])
    if ctx.actor.tenantgate:
        return allowed()
    return denied(problem)


def _app_namespace_problem(request: AdmissionRequest, view: ClusterView) -> str | None:
    namespace = request.namespace
    path = f"metadata.namespace {q(namespace)}"
    instead = (
        f"allowed: the namespace of a Project, {NAMESPACE_PREFIX}<tenant>-<project>, labelled {TENANT_LABEL} and "
        f"{PROJECT_LABEL} (see the Project's status.namespace)"
    )
    found = view.namespace(namespace)
    if found is None:
        return (
            f"{path}: {UPSTREAM_PHRASE}: tenantgate does not know this namespace (yet), and an App is only admitted "
            f"where its tenant and project are known; retry once the Project's namespace exists; {instead}"
        )
    labels = labels_of(found)
    tenant, project = _label_value(labels, TENANT_LABEL), _label_value(labels, PROJECT_LABEL)
    if not tenant or not project:
        missing = " and ".join(key for key, value in ((TENANT_LABEL, tenant), (PROJECT_LABEL, project)) if not value)
        return f"{path}: {UPSTREAM_PHRASE}: the namespace has no {missing} label; {instead}"
    expected = f"{NAMESPACE_PREFIX}{tenant}-{project}"
    if namespace != expected:
        return (
            f"{path}: {UPSTREAM_PHRASE}: it is labelled for tenant {q(tenant)} project {q(project)}, whose namespace "
            f"is {q(expected)}; {instead}"
        )
    return None
