"""The chart holds what the code derives, exactly as the code derives it now."""

from __future__ import annotations

import pytest
import yaml

from tenantgate.chart import generated_files, stale_files, webhook_roles
from webhook.watched import watch_specs

pytestmark = pytest.mark.unit


def test_the_charts_generated_files_are_up_to_date() -> None:
    assert stale_files() == [], "run `make chart` (tenantgate chart) and commit the result"


def test_the_webhook_may_read_exactly_what_its_view_watches_and_write_nothing() -> None:
    cluster_role, role = webhook_roles()
    verbs = {verb for r in (cluster_role, role) for rule in r["rules"] for verb in rule["verbs"]}
    assert verbs == {"list", "watch"}
    resources = {res for rule in cluster_role["rules"] for res in rule["resources"]}
    assert resources == {
        "tenants",
        "projects",
        "apps",
        "dnsrecords",
        "certificates",
        "policies",
        "djangos",
        "namespaces",
        "ingresses",
    }
    assert [rule["resources"] for rule in role["rules"]] == [["configmaps"]], "only its own namespace's ConfigMap"
    assert len(watch_specs("x")) == len(resources) + 1


def test_the_generated_templates_are_one_document_stream_per_file() -> None:
    files = generated_files()
    webhooks = files["templates/generated-webhooks.yaml"]
    # One pair per routing; `webhook.singleCall` picks one (tests/e2e/test_chart.py renders both).
    assert webhooks.count("kind: MutatingWebhookConfiguration") == 2
    assert webhooks.count("kind: ValidatingWebhookConfiguration") == 2
    single, separate = webhooks.split("{{- if .Values.webhook.singleCall }}\n")[1].split("{{- else }}\n")
    assert "/admit" in single
    assert "/admit" not in separate
    assert "{{ .Release.Namespace }}" in webhooks
    rbac = [
        doc
        for doc in yaml.safe_load_all(files["templates/generated-rbac.yaml"].replace("{{ .Release.Namespace }}", "ns"))
    ]
    assert {doc["metadata"]["name"] for doc in rbac} == {
        "tenantgate-controller",
        "tenantgate-webhook",
        "tenantgate-tenant-admin",
        "tenantgate-tenant-owner",
    }
