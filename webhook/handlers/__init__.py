"""The admission handlers tenantgate ships, and the registries that wire them to kinds and operations.

Each handler is a small pure function `(request, view) -> Verdict` in a module named after what it judges;
`build_registries()` is the only place that decides which handler runs for which (group, kind, operation)
and in which order (schema defaults first, so later mutators and every guardrail see a complete object; then
the tenancy guardrails of `webhook.guardrails`).
"""

from __future__ import annotations

from webhook.guardrails import register_guardrails
from webhook.handlers.defaults import default_custom_kind
from webhook.handlers.kinds import SERVED_KINDS
from webhook.handlers.kubeop_app import label_managed_by
from webhook.handlers.kubeop_project import require_existing_tenant
from webhook.registry import Registries

KUBEOP_GROUP = "paas.kubeop.io"


def build_registries() -> Registries:
    """Fresh registries holding every shipped handler (callers may add more, e.g. tests)."""
    registries = Registries()
    mutating, validating = registries.mutating, registries.validating
    for group, kind in SERVED_KINDS:
        mutating.add(group, kind, ("CREATE", "UPDATE"), default_custom_kind)
    mutating.add(KUBEOP_GROUP, "App", ("CREATE", "UPDATE"), label_managed_by)
    validating.add(KUBEOP_GROUP, "Project", ("CREATE", "UPDATE"), require_existing_tenant)
    register_guardrails(registries)
    return registries


__all__ = ["SERVED_KINDS", "build_registries"]
