"""Who may write what: tenant owners in their own tenant, platform admins everywhere, nobody across tenants.

RBAC says whether a user may write a kind at all; these rules say in which tenant. They answer "who", so
platform admins (groups from the global policy, default `system:masters`) and tenantgate's own service
account pass all of them; the "what" rules (images, hosts, pod security, quotas, egress) apply to everyone
in a tenant's namespaces except tenantgate itself.

- **tenantgate kinds in a tenant namespace** (Shop, DiscordChannel, Wallet, App, both Djangos): create,
  update and delete need an owner of that tenant (`spec.owners`: User, Group or ServiceAccount) or a service
  account of one of the tenant's own namespaces. In namespaces outside every tenant, upstream behaviour: RBAC
  alone decides.
- **cluster-scoped DNSRecord, Certificate, Registry** belong to the tenant named by their
  `app.kubeop.io/tenant` label (the defaulter sets it for a user who owns exactly one tenant, over an empty
  value too); a non-admin must own that tenant (and, when the label changes, the old one too). An empty or
  missing label is denied: a user who owns several tenants must choose one, and one who owns none may not write
  these kinds, which exist for tenants. Objects outside every tenant are the platform's: only admins write them.
- **Projects**: the writer must own `spec.tenantRef`; the namespace `kubeop-<tenant>-<name>` must be a valid
  DNS-1123 label of at most 63 characters (the deny says by how much to shorten `spec.name`) and must not
  belong to anything else; `spec.maxProjects` caps the count. Whether the Tenant exists is kubeOP's own rule
  (`admission.rules.kubeop_project`), which `register_guardrails` makes sure runs.
- **Tenants** are created and deleted by platform admins; owners may change only the display name
  (`spec.name`) and `spec.eventWebhooks`, never their own guardrails.
- **Policies** (egress exceptions) are written by platform admins only.
- **Cordoned tenants** (`spec.cordoned: true`): creates and updates of the tenant's Projects and of anything in
  its namespaces are denied; deletes, and updates of objects already being deleted (finalizer removal), pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from admission.context import TENANT_LABELLED_CLUSTER_KINDS, RequestContext
from admission.protocol import AdmissionRequest
from admission.rules.guard import is_member, owned_tenants, unknown_namespace_message
from admission.rules.text import being_deleted, describe, metadata_of, object_name, q, spec_of, verb
from admission.verdict import Verdict, allowed, denied
from admission.view import labels_of
from crds.defaults import with_defaults
from tenancy.labels import PROJECT_LABEL, TENANT_LABEL
from tenancy.namespaces import NAMESPACE_PREFIX, namespace_name_problem, project_namespace, sanitize_dns_label
from tenancy.tenants import Actor

TENANT_NAMESPACED_KINDS: Final = (
    ("apps.shophub.local", "Shop"),
    ("notify.shophub.local", "DiscordChannel"),
    ("payments.shophub.local", "Wallet"),
    ("paas.kubeop.io", "App"),
    ("thismatters.github", "Django"),
    ("blindage.org", "Django"),
)
OWNER_EDITABLE_TENANT_FIELDS: Final = frozenset({"name", "eventWebhooks"})
RESERVED_ANNOTATION_PREFIX: Final = "tenantgate.io/"
TENANT_KIND: Final = ("paas.kubeop.io", "Tenant")


def _not_owner(actor: Actor, tenant: str) -> str:
    return (
        f"{actor.describe()} is not an owner of tenant {q(tenant)}; allowed: the users, groups and service "
        f"accounts in Tenant {q(tenant)} spec.owners, and platform admins"
    )


def tenant_membership(request: AdmissionRequest, ctx: RequestContext) -> Verdict:
    """Writes of tenantgate kinds in a tenant's namespaces (or labelled for a tenant) need one of its members."""
    if ctx.actor.admin:
        return allowed()
    if request.namespace:
        return _namespaced_membership(request, ctx)
    if (request.kind.group, request.kind.kind) in TENANT_LABELLED_CLUSTER_KINDS:
        return _labelled_membership(request, ctx)
    return allowed()


def _namespaced_membership(request: AdmissionRequest, ctx: RequestContext) -> Verdict:
    actor = ctx.actor
    tenancy = ctx.namespace_tenancy(request.namespace)
    if not tenancy.known:
        return denied(unknown_namespace_message(request, describe(request)))
    if not tenancy.is_tenant:
        return allowed()
    assert tenancy.tenant is not None
    rules = ctx.tenant_rules(tenancy.tenant)
    if rules is None:
        if request.operation == "DELETE":
            return allowed()
        return denied(
            f"metadata.namespace {q(request.namespace)} is labelled for tenant {q(tenancy.tenant)}, which does not "
            f"exist; only platform admins may write there; allowed: a namespace of an existing tenant you own"
        )
    if is_member(ctx.view, actor, rules):
        return allowed()
    return denied(
        f"metadata.namespace {q(request.namespace)} belongs to tenant {q(tenancy.tenant)}, so only its members may "
        f"{verb(request)} {describe(request)} there: {_not_owner(actor, tenancy.tenant)}"
    )


def _tenant_label(obj: Mapping[str, Any] | None) -> str | None:
    """The object's tenant label as written: None when absent, possibly the empty string."""
    if obj is None:
        return None
    value = labels_of(obj).get(TENANT_LABEL)
    return value if isinstance(value, str) else None


def _labelled_membership(request: AdmissionRequest, ctx: RequestContext) -> Verdict:
    """A non-admin's DNSRecord, Certificate or Registry names, in its label, a tenant the writer owns.

    The label is the only thing that ties a cluster-scoped object to a tenant, so it is never taken on trust: an
    empty or missing value does not put the object outside every tenant (those objects are the platform's, written
    by admins), and a value naming a tenant the writer does not own is someone else's object.
    """
    actor = ctx.actor
    label_path = f'metadata.labels["{TENANT_LABEL}"]'
    wanted = _tenant_label(request.object)
    previous = _tenant_label(request.old_object) if request.operation != "CREATE" else None
    if request.operation != "DELETE":
        if not wanted:
            return denied(_unlabelled_message(request, ctx, label_path, wanted))
        rules = ctx.tenant_rules(wanted)
        if rules is None:
            return denied(
                f"{label_path} {q(wanted)} of {describe(request)} names no existing Tenant; allowed: the name "
                "of a tenant you own"
            )
        if not rules.owned_by(actor):
            return denied(
                f"{label_path} {q(wanted)}: {describe(request)} belongs to that tenant and {_not_owner(actor, wanted)}"
            )
    if request.operation == "CREATE":
        return allowed()
    if not previous:
        return denied(
            f"{describe(request)} belongs to no tenant ({label_path} is {q(previous) if previous == '' else 'unset'}),"
            f" so it is the platform's and only platform admins may {verb(request)} it; allowed: ask a platform admin"
        )
    previous_rules = ctx.tenant_rules(previous)
    if previous_rules is not None and not previous_rules.owned_by(actor):
        return denied(
            f"{label_path} {q(previous)}: {describe(request)} belongs to that tenant and {_not_owner(actor, previous)}"
        )
    return allowed()


def _unlabelled_message(request: AdmissionRequest, ctx: RequestContext, label_path: str, value: str | None) -> str:
    """Why a non-admin's object without a tenant is denied, and which value to write instead."""
    actor = ctx.actor
    shown = f"{label_path} {q(value)}" if value is not None else f"{label_path} (missing)"
    owned = owned_tenants(ctx, actor)
    if not owned:
        return (
            f"{shown}: {describe(request)} must belong to a tenant, and {actor.describe()} owns none; DNSRecords, "
            "Certificates and Registries outside every tenant are reserved to platform admins; allowed: the name of "
            "a tenant you own (ask a platform admin to make you an owner, or to write the object)"
        )
    if len(owned) == 1:
        return f"{shown}: {describe(request)} must belong to a tenant; allowed: {q(owned[0])}, the tenant you own"
    return (
        f"{shown}: {describe(request)} must belong to a tenant and {actor.describe()} owns several "
        f"({', '.join(owned)}); allowed: set the label to the tenant the object belongs to"
    )


# -- Projects ----------------------------------------------------------------------------------------------


def _project_name(project: Mapping[str, Any]) -> str:
    return str(metadata_of(project).get("name") or "")


def project_rules(request: AdmissionRequest, ctx: RequestContext) -> Verdict:
    """Ownership, namespace naming and `maxProjects` for Projects (tenant existence is kubeOP's rule)."""
    subject = request.subject
    ref = spec_of(subject).get("tenantRef")
    if not isinstance(ref, str) or not ref or (rules := ctx.tenant_rules(ref)) is None:
        return allowed()  # kubeOP's Project rule answers a missing or unknown tenantRef
    if not ctx.actor.admin:
        old_ref = spec_of(request.old_object).get("tenantRef") if request.operation == "UPDATE" else None
        for tenant in dict.fromkeys(t for t in (ref, old_ref) if isinstance(t, str) and t):
            tenant_of = rules if tenant == ref else ctx.tenant_rules(tenant)
            if tenant_of is not None and not tenant_of.owned_by(ctx.actor):
                return denied(
                    f"spec.tenantRef {q(tenant)}: only owners of tenant {q(tenant)} may {verb(request)} its Projects; "
                    f"{_not_owner(ctx.actor, tenant)}"
                )
    if request.operation == "DELETE" or request.object is None:
        return allowed()
    name = spec_of(request.object).get("name")
    if not isinstance(name, str):
        return allowed()  # the schema requires spec.name with its own message
    old_spec = spec_of(request.old_object)
    renamed = request.operation == "CREATE" or old_spec.get("name") != name or old_spec.get("tenantRef") != ref
    if not renamed:
        return allowed()
    problem = namespace_name_problem(ref, name)
    if problem is not None:
        return denied(problem)
    namespace = project_namespace(ref, name)
    me = _project_name(request.object)
    for other in ctx.view.projects_of(ref):
        other_name = spec_of(other).get("name")
        if (
            _project_name(other) != me
            and isinstance(other_name, str)
            and sanitize_dns_label(other_name) == sanitize_dns_label(name)
        ):
            return denied(
                f"spec.name {q(name)} gives namespace {q(namespace)}, which Project {q(_project_name(other))} "
                f"(spec.name {q(other_name)}) already uses; allowed: a spec.name that differs after lowercasing "
                "and replacing other characters with -"
            )
    existing = ctx.view.namespace(namespace)
    if existing is not None and request.operation == "CREATE":
        labels = labels_of(existing)
        if labels.get(TENANT_LABEL) != ref or labels.get(PROJECT_LABEL) != sanitize_dns_label(name):
            return denied(
                f"spec.name {q(name)} gives namespace {q(namespace)}, which already exists and is not labelled for "
                f"tenant {q(ref)} project {q(sanitize_dns_label(name))}; allowed: a spec.name whose namespace does "
                "not exist yet"
            )
    warnings = []
    if namespace != f"{NAMESPACE_PREFIX}{ref}-{name}":
        warnings.append(f"spec.name {q(name)} is not a DNS-1123 label; the namespace will be {q(namespace)}")
    if request.operation == "CREATE" and rules.max_projects is not None:
        others = sorted(_project_name(p) for p in ctx.view.projects_of(ref) if _project_name(p) != me)
        if len(others) >= rules.max_projects:
            listed = ", ".join(others[:10]) + (", ..." if len(others) > 10 else "")
            return denied(
                f"spec.tenantRef {q(ref)}: tenant {q(ref)} already has {len(others)} Projects ({listed}) and its "
                f"spec.maxProjects is {rules.max_projects}; allowed: delete a Project first, or ask a platform "
                "admin to raise spec.maxProjects"
            )
    return allowed(warnings=warnings)


# -- Tenants and Policies ----------------------------------------------------------------------------------


def _reserved_annotations(obj: Mapping[str, Any] | None) -> dict[str, Any]:
    annotations = metadata_of(obj).get("annotations")
    if not isinstance(annotations, dict):
        return {}
    return {k: v for k, v in annotations.items() if k.startswith(RESERVED_ANNOTATION_PREFIX)}


def tenant_writes(request: AdmissionRequest, ctx: RequestContext) -> Verdict:
    """Tenants: platform admins create and delete them; owners may edit only the display name and webhooks."""
    if ctx.actor.admin:
        return allowed()
    name = object_name(request)
    if request.operation != "UPDATE":
        return denied(
            f"{describe(request)}: only platform admins may {verb(request)} Tenants, because a Tenant's fields are "
            f"its guardrails; allowed: ask a platform admin"
        )
    rules = ctx.tenant_rules(name)
    if rules is None or not rules.owned_by(ctx.actor):
        return denied(f"{describe(request)}: {_not_owner(ctx.actor, name)}")
    # Compare with schema defaults filled in on both sides: the defaulting webhook adds `cordoned: false` to
    # the new object, which is no change from an old object stored before that default existed.
    new_spec = spec_of(with_defaults(TENANT_KIND[0], TENANT_KIND[1], dict(request.object or {})))
    old_spec = spec_of(with_defaults(TENANT_KIND[0], TENANT_KIND[1], dict(request.old_object or {})))
    changed = sorted(
        key
        for key in set(new_spec) | set(old_spec)
        if key not in OWNER_EDITABLE_TENANT_FIELDS and new_spec.get(key) != old_spec.get(key)
    )
    changed_annotations = sorted(
        key
        for key in set(_reserved_annotations(request.object)) | set(_reserved_annotations(request.old_object))
        if _reserved_annotations(request.object).get(key) != _reserved_annotations(request.old_object).get(key)
    )
    fields = [f"spec.{key} {_short(new_spec.get(key))}" for key in changed] + [
        f'metadata.annotations["{key}"] {_short(_reserved_annotations(request.object).get(key))}'
        for key in changed_annotations
    ]
    if not fields:
        return allowed()
    return denied(
        f"{', '.join(fields)} of {describe(request)}: a tenant's owners may not change its guardrails; allowed: "
        "owners may change spec.name and spec.eventWebhooks, platform admins everything else"
    )


def _short(value: object, limit: int = 80) -> str:
    """A value for a message: `unset` when absent, JSON otherwise, cut at `limit` characters."""
    if value is None:
        return "unset"
    text = q(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def policy_writes(request: AdmissionRequest, ctx: RequestContext) -> Verdict:
    """Policies widen egress for tenant namespaces, so only platform admins write them."""
    if ctx.actor.admin:
        return allowed()
    return denied(
        f"{describe(request)}: spec.egressAllowCIDRs widens what tenant workloads may reach, so only platform "
        f"admins may {verb(request)} Policies; allowed: ask a platform admin for an egress exception"
    )


# -- cordon ------------------------------------------------------------------------------------------------

_SKIP_CORDON: Final = frozenset({("", "Namespace"), ("paas.kubeop.io", "Tenant")})


def cordoned_tenant(request: AdmissionRequest, ctx: RequestContext) -> Verdict:
    """A cordoned tenant's objects are frozen: creates and updates are denied, deletes pass."""
    if request.operation not in ("CREATE", "UPDATE") or being_deleted(request):
        return allowed()
    if (request.kind.group, request.kind.kind) in _SKIP_CORDON:
        return allowed()
    tenancy = ctx.tenancy
    if not tenancy.is_tenant:
        return allowed()  # an unknown namespace is answered by the rules that need its tenant
    rules = ctx.tenant_rules(tenancy.tenant)
    if rules is None or not rules.cordoned:
        return allowed()
    if ctx.actor.admin:
        return allowed()
    return denied(
        f"Tenant {q(rules.name)} spec.cordoned is true: the tenant is frozen, so {describe(request)} may not be "
        f"{'created' if request.operation == 'CREATE' else 'updated'}; allowed: deletes; ask a platform admin to "
        "set spec.cordoned to false"
    )
