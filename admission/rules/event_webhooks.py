"""A Tenant's `spec.eventWebhooks`: HTTPS receivers, and signing keys read only from the tenant's own namespaces.

The controller POSTs the tenant's lifecycle events to each URL and reads the HMAC key with its own privileges,
so two things are judged here, the same way the controller judges them (`tenancy.event_webhooks`):

- **url**: https, or http to a loopback host when the platform sets `TENANTGATE_EVENTS_ALLOW_HTTP_LOOPBACK`.
  Judged for everyone, platform admins included: it is the platform's setting, not a tenant's.
- **secretRef**: a namespace of this tenant, like a Registry's `passwordRef`; without a namespace the Secret is
  in tenantgate's own namespace, which only platform admins may reference (a tenant owner pointing there, or at
  another tenant's namespace, would have tenantgate sign with a key that is not the tenant's, or leak whether
  it exists).

On UPDATE a URL or reference already present is not judged again, so a knob turned off later or a reference an
admin wired does not stop an owner from editing the rest (the controller still refuses what it must).

Messages never repeat a URL: it may carry a token.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from admission.context import RequestContext
from admission.protocol import AdmissionRequest
from admission.rules.text import q, spec_of
from admission.verdict import Verdict, allowed, denied
from tenancy.event_webhooks import url_problem
from tenancy.namespaces import project_namespace


def _hooks(obj: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    hooks = spec_of(obj or {}).get("eventWebhooks")
    return [h for h in hooks if isinstance(h, dict)] if isinstance(hooks, list) else []


def _ref_key(hook: Mapping[str, Any]) -> tuple[str, str, str] | None:
    ref = hook.get("secretRef")
    if not isinstance(ref, dict):
        return None
    return (str(ref.get("namespace") or ""), str(ref.get("name") or ""), str(ref.get("key") or ""))


def event_webhooks(request: AdmissionRequest, ctx: RequestContext) -> Verdict:
    """Deny event webhook URLs that are not https and signing keys outside the tenant's namespaces."""
    obj = request.object
    if obj is None:
        return allowed()
    tenant = str((obj.get("metadata") or {}).get("name") or request.name)
    old_hooks = _hooks(request.old_object)
    already = {key for hook in old_hooks if (key := _ref_key(hook))}
    old_urls = {hook.get("url") for hook in old_hooks}
    judge_refs = not (ctx.actor.tenantgate or ctx.actor.admin)
    for index, hook in enumerate(_hooks(obj)):
        field = f"spec.eventWebhooks[{index}]"
        url = hook.get("url")
        allow_http = ctx.policy.events_allow_http_loopback
        if isinstance(url, str) and url not in old_urls and (why := url_problem(url, allow_http_loopback=allow_http)):
            return denied(
                f"{field}.url is refused: {why}; events carry the tenant's lifecycle out of the cluster; "
                "allowed: an https:// URL without credentials (sign deliveries with secretRef)"
            )
        key = _ref_key(hook)
        if not judge_refs or key is None or key in already:
            continue
        if why := _ref_problem(ctx, tenant, key[0]):
            shown = f"{key[0] or '<tenantgate>'}/{key[1]}"
            return denied(
                f"{field}.secretRef {q(shown)}: {why}, and the signing key may "
                f"only be read from a namespace of the same tenant; allowed: {_instead(ctx, tenant, key[1])}"
            )
    return allowed()


def _ref_problem(ctx: RequestContext, tenant: str, namespace: str) -> str | None:
    if not namespace:
        return "it names no namespace, which means tenantgate's own namespace (platform admins only)"
    target = ctx.namespace_tenancy(namespace)
    if not target.known or ctx.view.namespace(namespace) is None:
        return f"namespace {q(namespace)} is not known to be one of tenant {q(tenant)}'s"
    if target.tenant != tenant:
        return f"namespace {q(namespace)} is not a namespace of tenant {q(tenant)}"
    return None


def _instead(ctx: RequestContext, tenant: str, name: str) -> str:
    examples = sorted(
        project_namespace(tenant, spec_name)
        for project in ctx.view.projects_of(tenant)
        if isinstance(spec_name := spec_of(project).get("name"), str) and spec_name
    )
    such_as = f", such as {{namespace: {examples[0]}, name: {name or '<name>'}}}" if examples else ""
    return f"secretRef.namespace set to a namespace of tenant {q(tenant)}{such_as}"
