"""`register_guardrails` wires every rule to the kinds it judges, once, in "who, then what" order."""

from __future__ import annotations

import pytest

from admission.protocol import Operation
from admission.registry import Handler, Registries
from admission.rules import build_registries, register_guardrails
from admission.rules.hosts import allowed_hosts
from admission.rules.images import allowed_registries
from admission.rules.kubeop_project import require_existing_tenant
from admission.rules.membership import cordoned_tenant, project_rules, tenant_membership, tenant_writes
from admission.rules.namespaces import app_namespace, namespace_labels
from admission.rules.network import egress_cidrs, managed_objects
from admission.rules.podsecurity import django_beat_replicas, pod_security
from admission.rules.quotas import project_quota, resource_quota
from admission.rules.references import secret_references
from admission.rules.shapes import well_formed
from admission.rules.snippets import ingress_snippets
from admission.rules.tenancy_labels import tenancy_labels

pytestmark = pytest.mark.unit


def _registries() -> Registries:
    registries = build_registries()
    register_guardrails(registries)
    return registries


@pytest.mark.parametrize(
    ("group", "kind", "operation", "handler"),
    [
        ("batch", "CronJob", "CREATE", allowed_registries),
        ("batch", "CronJob", "UPDATE", pod_security),
        ("apps", "DaemonSet", "CREATE", pod_security),
        ("", "Pod", "CREATE", cordoned_tenant),
        ("", "Namespace", "UPDATE", namespace_labels),
        ("networking.k8s.io", "Ingress", "CREATE", allowed_hosts),
        ("networking.k8s.io", "Ingress", "UPDATE", ingress_snippets),
        ("networking.k8s.io", "NetworkPolicy", "UPDATE", egress_cidrs),
        ("networking.k8s.io", "NetworkPolicy", "DELETE", managed_objects),
        ("", "ResourceQuota", "CREATE", resource_quota),
        ("", "LimitRange", "DELETE", managed_objects),
        ("paas.kubeop.io", "Project", "CREATE", project_quota),
        ("paas.kubeop.io", "Project", "DELETE", project_rules),
        ("paas.kubeop.io", "Tenant", "DELETE", tenant_writes),
        ("paas.kubeop.io", "DNSRecord", "CREATE", allowed_hosts),
        ("paas.kubeop.io", "Registry", "UPDATE", secret_references),
        ("apps.shophub.local", "Shop", "DELETE", tenant_membership),
        ("thismatters.github", "Django", "CREATE", allowed_hosts),
        ("blindage.org", "Django", "UPDATE", django_beat_replicas),
    ],
)
def test_rules_are_registered_for_the_kinds_they_judge(
    group: str, kind: str, operation: Operation, handler: Handler
) -> None:
    assert handler in _registries().validating.handlers_for(group, kind, operation)


def test_registering_twice_adds_nothing() -> None:
    registries = _registries()
    before = (registries.mutating.registrations(), registries.validating.registrations())
    register_guardrails(registries)
    assert (registries.mutating.registrations(), registries.validating.registrations()) == before


def test_kubeops_tenant_check_runs_once_and_before_ownership() -> None:
    handlers = _registries().validating.handlers_for("paas.kubeop.io", "Project", "CREATE")
    assert handlers.count(require_existing_tenant) == 1
    assert handlers.index(require_existing_tenant) < handlers.index(project_rules)


def test_app_namespace_answers_before_membership_so_kubeops_wording_wins() -> None:
    handlers = _registries().validating.handlers_for("paas.kubeop.io", "App", "CREATE")
    assert handlers.index(app_namespace) < handlers.index(tenant_membership) < handlers.index(allowed_registries)


def test_tenancy_labels_default_every_kind() -> None:
    assert tenancy_labels in _registries().mutating.handlers_for("apps", "Deployment", "UPDATE")


def test_a_registry_without_one_handler_keeps_the_others_in_order() -> None:
    validating = _registries().validating
    without = validating.without(well_formed)
    full = validating.handlers_for("apps", "Deployment", "CREATE")
    assert full[0] is well_formed
    assert without.handlers_for("apps", "Deployment", "CREATE") == full[1:]
    assert well_formed in validating.handlers_for("apps", "Deployment", "CREATE")  # the original is untouched
