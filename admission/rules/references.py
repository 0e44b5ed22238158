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
- **Registry** (cluster-scoped) `spec.passwordRef`: `<namespace>/<name>[#<key>]`; for a Registry labelled for a
  tenant the namespace must be one of that tenant's, written out: a bare name is denied, because a cluster-scoped
  object has no namespace of its own to fall back on (the controller refuses it too, see
  `controller.reconcilers.registry`).
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
from tenancy.namespaces import project_namespace
from tenancy.registries import parse_password_ref

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
            return _registry_password_ref(ctx, owner, ref_text)
    return allowed(warnings=warnings)


def _registry_password_ref(ctx: RequestContext, owner: str, ref_text: str) -> Verdict:
    """A tenant's Registry reads its password from a namespace of that tenant, written out, or not at all."""
    ref = parse_password_ref(ref_text)
    examples = sorted(
        project_namespace(owner, name)
        for project in ctx.view.projects_of(owner)
        if isinstance(name := spec_of(project).get("name"), str) and name
    )
    example = f"{examples[0]}/{ref.name or '<name>'}" if examples else ""
    such_as = f", such as {q(example)}" if example else ""
    instead = f"allowed: <namespace>/<name> with a namespace of tenant {q(owner)}{such_as}"
    if ref.namespace is None:
        return denied(
            f"spec.passwordRef {q(ref_text)} names no namespace, and a tenant's Registry may only read its "
            f"credentials from a namespace of its own tenant; {instead}"
        )
    if why := _crossing(ctx, owner, ref.namespace):
        return denied(
            f"spec.passwordRef {q(ref_text)}: {why}, and Registry credentials may only be read within the same "
            f"tenant; {instead}"
        )
    return allowed()
