"""kubeOP's Project validator: a Project must name an existing Tenant.

kubeOP denies a Project without `spec.tenantRef` and one whose Tenant does not exist; tenantgate keeps both
rules (and kubeOP's wording at the start of each message, which scripts may grep for) and says what to do
instead. The Tenant lookup comes from the cluster view, never from an API call.

Two cases are deliberately not denied, so a missing Tenant can never wedge an existing Project:
an UPDATE of a Project that is being deleted (its finalizers must be removable), and an UPDATE that keeps
the same `spec.tenantRef` (admitted with a warning).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from admission.context import RequestContext
from admission.protocol import AdmissionRequest
from admission.verdict import Verdict, allowed, denied


def _tenant_ref(obj: Mapping[str, Any] | None) -> object:
    spec = (obj or {}).get("spec")
    return spec.get("tenantRef") if isinstance(spec, dict) else None


def require_existing_tenant(request: AdmissionRequest, ctx: RequestContext) -> Verdict:
    project = request.subject
    name = (project.get("metadata") or {}).get("name") or request.name
    ref = _tenant_ref(project)
    if not isinstance(ref, str) or not ref.strip():
        shown = "missing" if ref is None else f"{ref!r} (not a Tenant name)"
        return denied(
            f"spec.tenantRef is required: Project {name!r} has spec.tenantRef {shown}; "
            "every Project belongs to a Tenant: set spec.tenantRef to the metadata.name of an existing Tenant"
        )
    if ctx.view.tenant(ref) is not None:
        return allowed()
    if request.operation == "UPDATE":
        if (project.get("metadata") or {}).get("deletionTimestamp"):
            return allowed()
        if _tenant_ref(request.old_object) == ref:
            return allowed().with_warnings(f'Tenant "{ref}" of Project "{name}" no longer exists')
    return denied(
        f'spec.tenantRef "{ref}": referenced tenant does not exist; a Project must reference an existing '
        f'Tenant by its metadata.name: create Tenant "{ref}" first or name an existing Tenant '
        "(one created a moment ago is known within a second: apply again)"
    )
