"""`tenantgate dev`'s stand-ins for external-dns and cert-manager: what they write, decided by pure functions."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from tenantgate.cli import build_parser
from tenantgate.devcluster.publishing import BACKENDS, DEFAULT_BACKEND
from tenantgate.devcluster.standins import (
    STANDIN_RULES,
    THIRD_PARTY_CRDS,
    certificate_plan,
    endpoint_status,
    issue_certificate,
    issued_status,
    new_issuer,
    secret_certificate,
    tls_secret,
)

pytestmark = pytest.mark.unit

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def endpoint(generation: int, observed: int | None) -> dict[str, Any]:
    status = {} if observed is None else {"status": {"observedGeneration": observed}}
    return {"metadata": {"name": "web", "namespace": "ns", "generation": generation}, **status}


@pytest.mark.parametrize(
    ("generation", "observed", "written"),
    [(1, None, {"observedGeneration": 1}), (2, 1, {"observedGeneration": 2}), (2, 2, None)],
    ids=["new", "changed", "caught_up"],
)
def test_external_dns_reports_the_generation_it_published(
    generation: int, observed: int | None, written: dict[str, int] | None
) -> None:
    assert endpoint_status(endpoint(generation, observed)) == written


def certificate(
    names: list[str] | None = None, generation: int = 1, ready_for: int | None = None, **spec: Any
) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": "web-local", "namespace": "ns", "uid": "u-1", "generation": generation},
        "spec": {
            "secretName": "web-local-tls",
            "dnsNames": ["web.local"] if names is None else names,
            "issuerRef": {"group": "cert-manager.io", "kind": "ClusterIssuer", "name": "letsencrypt"},
            **spec,
        },
    }
    if ready_for is not None:
        obj["status"] = {"conditions": [{"type": "Ready", "status": "True", "observedGeneration": ready_for}]}
    return obj


def secret_for(names: str) -> dict[str, Any]:
    return {"metadata": {"annotations": {"cert-manager.io/alt-names": names}}}


@pytest.mark.parametrize(
    ("cert", "secret", "issue", "report"),
    [
        (certificate(), None, True, True),
        (certificate(ready_for=1), secret_for("web.local"), False, False),
        (certificate(generation=2, ready_for=1), secret_for("web.local"), False, True),
        (certificate(["web.local", "www.local"], ready_for=1), secret_for("web.local"), True, True),
        (certificate(ready_for=1), None, True, True),
    ],
    ids=["new", "steady", "new_generation_same_names", "names_changed", "secret_deleted"],
)
def test_cert_manager_issues_only_when_the_secret_does_not_match(
    cert: dict[str, Any], secret: dict[str, Any] | None, issue: bool, report: bool
) -> None:
    plan = certificate_plan(cert, secret)
    assert (plan.issue, plan.report, plan.problem) == (issue, report, "")


def test_a_certificate_without_names_is_refused_once() -> None:
    plan = certificate_plan(certificate([]), None)
    assert (plan.issue, plan.report) == (False, True)
    assert "dnsNames" in plan.problem
    refused = certificate([])
    refused["status"] = {"conditions": [{"type": "Ready", "status": "False", "message": plan.problem}]}
    assert certificate_plan(refused, None).report is False


def test_the_issued_certificate_is_a_real_one_for_the_dns_names_signed_by_the_issuer() -> None:
    issuer = new_issuer(NOW)
    cert = certificate(["web.local", "*.web.local"])
    pair = issue_certificate(issuer, cert, NOW)
    secret = tls_secret(cert, pair, issuer.cert_pem)

    assert (secret["type"], secret["metadata"]["name"], secret["metadata"]["namespace"]) == (
        "kubernetes.io/tls",
        "web-local-tls",
        "ns",
    )
    assert set(secret["data"]) == {"tls.crt", "tls.key", "ca.crt"}
    assert base64.b64decode(secret["data"]["ca.crt"]) == issuer.cert_pem
    assert secret["metadata"]["annotations"]["cert-manager.io/alt-names"] == "web.local,*.web.local"
    assert secret["metadata"]["annotations"]["cert-manager.io/issuer-kind"] == "ClusterIssuer"
    [owner] = secret["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"]) == ("Certificate", "web-local", "u-1")

    leaf = x509.load_pem_x509_certificate(secret_certificate(secret) or b"")
    ca = x509.load_pem_x509_certificate(issuer.cert_pem)
    leaf.verify_directly_issued_by(ca)
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["web.local", "*.web.local"]
    usage = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in usage
    # The secret now matches: nothing more to issue.
    assert certificate_plan({**cert, "status": issued_status(cert, pair.cert_pem, NOW)}, secret).issue is False


def test_the_status_is_cert_managers_ready_condition_for_the_current_generation() -> None:
    issuer = new_issuer(NOW)
    cert = certificate(generation=3)
    status = issued_status(cert, issue_certificate(issuer, cert, NOW).cert_pem, NOW)
    [ready] = status["conditions"]
    assert (ready["type"], ready["status"], ready["reason"], ready["observedGeneration"]) == (
        "Ready",
        "True",
        "Ready",
        3,
    )
    assert status["notBefore"] < "2026-01-01T00:00:01Z" < status["renewalTime"] < status["notAfter"]
    assert status["revision"] == 1
    assert certificate_plan({**cert, "status": status}, secret_for("web.local")).report is False


def test_the_stand_ins_may_only_read_their_kinds_and_write_status_and_secrets() -> None:
    writes = {
        (g, r, v) for rule in STANDIN_RULES for g in rule["apiGroups"] for r in rule["resources"] for v in rule["verbs"]
    }
    assert {(g, r) for g, r, v in writes if v not in ("get", "list", "watch")} == {
        ("externaldns.k8s.io", "dnsendpoints/status"),
        ("cert-manager.io", "certificates/status"),
        ("", "secrets"),
    }
    assert not any(v in ("delete", "*", "update") for _, _, v in writes)


def test_the_crd_files_exist_and_dev_offers_each_backend() -> None:
    assert all(path.is_file() for path in THIRD_PARTY_CRDS.values())
    dev = build_parser().parse_args(["dev"])
    assert dev.publishing == DEFAULT_BACKEND == "http"
    for backend in BACKENDS:
        assert build_parser().parse_args(["dev", "--publishing", backend]).publishing == backend
    with pytest.raises(SystemExit):
        build_parser().parse_args(["dev", "--publishing", "dns"])
