"""Tenancy labels as defaults: every object in a tenant namespace says which tenant and project it belongs to.

`kubectl get shops,deployments -A -l app.kubeop.io/tenant=acme` should just work, and cluster-scoped objects
(which have no namespace to tell) need the label to belong to a tenant at all. So, at CREATE and UPDATE:

- an object in a tenant namespace gets `app.kubeop.io/tenant` and `app.kubeop.io/project` from its namespace,
  overriding a different value the user wrote (a label in a tenant namespace never lies about its tenant);
- a Project gets `app.kubeop.io/tenant: <spec.tenantRef>` and `app.kubeop.io/project: <sanitised spec.name>`,
  the same values its namespace will carry;
- a cluster-scoped DNSRecord, Certificate or Registry without the tenant label (or with an empty one) gets it
  when the requester owns exactly one tenant (platform admins and owners of several tenants choose for
  themselves; the membership rule then checks the choice, and denies an empty one to non-admins).

kubeOP's `app.kubeop.io/managed-by: kubeop-admission` label on Apps is the starter handler
`admission.rules.kubeop_app.label_managed_by`; `register_guardrails` registers it once if it is missing,
rather than adding a second handler for the same label.

Labels are recorded with the patch recorder against the raw object; running the defaulter on its own output
records nothing, so `reinvocationPolicy: IfNeeded` is safe, and the labels show in `kubectl get -o yaml`.
Values that are not valid label values (a Project whose name cannot become a namespace) are skipped: the
validating rules explain those.
"""

from __future__ import annotations

import re
from typing import Final

from admission.context import TENANT_LABELLED_CLUSTER_KINDS, RequestContext
from admission.patch import PatchRecorder
from admission.protocol import AdmissionRequest
from admission.rules.guard import owned_tenants
from admission.rules.text import spec_of
from admission.verdict import Verdict, allowed, patched
from admission.view import labels_of
from tenancy.labels import PROJECT_LABEL, TENANT_LABEL
from tenancy.namespaces import sanitize_dns_label

_LABEL_VALUE: Final = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
PROJECT: Final = ("paas.kubeop.io", "Project")
_NOT_LABELLED: Final = frozenset({("", "Namespace"), ("paas.kubeop.io", "Tenant"), ("paas.kubeop.io", "Policy")})


def valid_label_value(value: str) -> bool:
    return len(value) <= 63 and _LABEL_VALUE.match(value) is not None


def tenancy_labels(request: AdmissionRequest, ctx: RequestContext) -> Verdict:
    """Record the tenant and project labels the object should carry (see the module docstring)."""
    obj = request.object
    if obj is None or request.operation not in ("CREATE", "UPDATE"):
        return allowed()
    key = (request.kind.group, request.kind.kind)
    if key in _NOT_LABELLED:
        return allowed()
    wanted: list[tuple[str, str, bool]] = []  # (label, value, overwrite)
    if request.namespace:
        tenancy = ctx.namespace_tenancy(request.namespace)
        if tenancy.tenant:
            wanted.append((TENANT_LABEL, tenancy.tenant, True))
            if tenancy.project:
                wanted.append((PROJECT_LABEL, tenancy.project, True))
    elif key == PROJECT:
        spec = spec_of(obj)
        ref, name = spec.get("tenantRef"), spec.get("name")
        if isinstance(ref, str) and ref:
            wanted.append((TENANT_LABEL, ref, True))
        if isinstance(name, str) and name:
            wanted.append((PROJECT_LABEL, sanitize_dns_label(name), True))
    elif key in TENANT_LABELLED_CLUSTER_KINDS and not labels_of(obj).get(TENANT_LABEL):
        actor = ctx.actor
        if not actor.admin:
            owned = owned_tenants(ctx, actor)
            if len(owned) == 1:  # over an empty value too: "" is not a way out of every tenant
                wanted.append((TENANT_LABEL, owned[0], True))
    if not wanted:
        return allowed()
    recorder = PatchRecorder(obj)
    for label, value, overwrite in wanted:
        if value and valid_label_value(value):
            recorder.ensure_label(label, value, overwrite=overwrite)
    return patched(recorder)
