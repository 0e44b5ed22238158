"""Secret references never cross tenants.

The controller reads referenced Secrets with its own privileges, so a reference is a request to act on the
referrer's behalf: without this rule a tenant could have tenantgate read another tenant's bot token (the
confused-deputy problem). Every reference must resolve into a namespace of the referrer's own tenant:

- **DiscordChannel** `spec.botTokenRef`: the namespace is honoured (upstream does; default: the
  DiscordChannel's own). It must belong to the same tenant; a non-tenant DiscordChannel may not point into a
  tenant's namespace.
- **Shop** `spec.discordWebhookSecretRef`: upstream ignores `.namespace` and reads the Shop's own namespace;
  tenantgate keeps that (changing what a manifest means would be a silent behaviour change) and says so in a
  warning. A namespace of another tenant there is denied all the same: it states an intent to cross tenants.
- **Registry** (cluster-scoped) `spec.passwordRef`: `<namespace>/<name>`; for a Registry labelled for a tenant
  the namespace must be one of that tenant's. A bare name has no namespace: admitted with a warning.
- **Wallet**: the spec has no references; the controller writes `status.privateKeySecretRef` in the Wallet's
  own namespace. A Wallet written with a `status.privateKeySecretRef` into another namespace is denied.

A referenced namespace the view does not know is treated as "not yours" (fail closed). Platform admins pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from admission.context import RequestContext
from admission.protocol import AdmissionRequest
from admission.rules.guard import guardrail
from admission.rules.text import q, spec_of
from admission.verdict import Verdict, allowed, denied
from admission.view import labels_of
from tenancy.labels import TENANT_LABEL

SHOP: Final = ("apps.shophub.local", "Shop")
DISCORD_CHANNEL: Final = ("notify.shophub.local", "DiscordChannel")
WALLET: Final = ("payments.shophub.local", "Wallet")
REGISTRY: Final = ("paas.kubeop.io", "Registry")
REFERENCE_KINDS: Final = (SHOP, DISCORD_CHANNEL, WALLET, REGISTRY)


def _ref(obj: Mapping[str, Any], *path: str) -> Mapping[str, Any] | None:
    node: Any = obj
    for segment in path:
        node = node.get(segment) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else None


def _crossing(ctx: RequestContext, own_tenant: str | None, target_namespace: str) -> str | None:
    """Why a reference into `target_namespace` crosses tenants (None when it does not)."""
    target = ctx.namespace_tenancy(target_namespace)
    if own_tenant is None:
        if not target.known:
            return None  # a non-tenant object pointing at a namespace nobody knows: upstream behaviour
        return "it points into a tenant's namespace" if target.is_tenant else None
    if not target.known or ctx.view.namespace(target_namespace) is None:
        return f"namespace {q(target_namespace)} is not known to be one of tenant {q(own_tenant)}'s"
    if target.tenant != own_tenant:
        return f"namespace {q(target_namespace)} is not a namespace of tenant {q(own_tenant)}"
    return None


@guardrail("its Secret references", tenants_only=False, exempt="admins")
def secret_references(request: AdmissionRequest, ctx: RequestContext) -> Verdict:
    """Deny Secret references that leave the referrer's tenant; warn about fields upstream ignored."""
    obj = request.object or {}
    key = (request.kind.group, request.kind.kind)
    tenancy = ctx.tenancy
    own = tenancy.tenant
    instead = f"a Secret in a namespace of tenant {q(own)}" if own else "a Secret in a namespace outside every tenant"
    warnings: list[str] = []
    if key == DISCORD_CHANNEL:
        ref = _ref(obj, "spec", "botTokenRef")
        target = str(ref.get("namespace") or "") if ref else ""
        if target and target != request.namespace and (why := _crossing(ctx, own, target)):
            return denied(
                f"spec.botTokenRef.namespace {q(target)}: {why}, and a bot token may only be read within "
                f"the same tenant; allowed: {instead} (or omit the namespace)"
            )
    elif key == SHOP:
        ref = _ref(obj, "spec", "discordWebhookSecretRef")
        target = str(ref.get("namespace") or "") if ref else ""
        if target and target != request.namespace:
            why = _crossing(ctx, own, target)
            if why and ctx.namespace_tenancy(target).is_tenant:
                return denied(
                    f"spec.discordWebhookSecretRef.namespace {q(target)}: {why}, and a Secret may only be "
                    f"referenced within the same tenant; allowed: omit it (the Shop's namespace is used)"
                )
            warnings.append(
                f"spec.discordWebhookSecretRef.namespace {q(target)} is ignored; the Secret is read "
                f"from {q(request.namespace)}"
            )
    elif key == WALLET:
        ref = _ref(obj, "status", "privateKeySecretRef")
        target = str(ref.get("namespace") or "") if ref else ""
        if target and target != request.namespace:
            return denied(
                f"status.privateKeySecretRef.namespace {q(target)}: a Wallet's key lives in its own "
                f"namespace; allowed: {q(request.namespace)} (or leave status to the controller)"
            )
    elif key == REGISTRY:
        ref_text = spec_of(obj).get("passwordRef")
        owner = labels_of(obj).get(TENANT_LABEL)
        if isinstance(ref_text, str) and ref_text and owner:
            namespace, sep, _ = ref_text.partition("/")
            if not sep:
                warnings.append(f'spec.passwordRef {q(ref_text)} names no namespace; write "<namespace>/{ref_text}"')
            elif why := _crossing(ctx, owner, namespace):
                return denied(
                    f"spec.passwordRef {q(ref_text)}: {why}, and Registry credentials may only be read "
                    f"within the same tenant; allowed: <namespace>/<name> with a namespace of tenant "
                    f"{q(owner)}"
                )
    return allowed(warnings=warnings)
