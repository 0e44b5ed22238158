"""Renewal decisions: at 2/3 of the lifetime, on missing names, on a foreign signer; CA rotation overlap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from certs.bundle import CertBundle, CertFacts, split_pem_certificates
from certs.issue import backdate, new_ca, new_serving_cert
from certs.policy import decide, renewal_due, renewal_due_at, still_trusted
from certs.rotation import next_bundle

pytestmark = pytest.mark.unit

T0 = datetime(2025, 1, 1, tzinfo=UTC)
NAMES = ["svc", "svc.ns", "svc.ns.svc", "svc.ns.svc.cluster.local"]
CA_LIFE = timedelta(days=300)
LEAF_LIFE = timedelta(days=90)


def bundle_at(now: datetime, names: list[str] = NAMES) -> CertBundle:
    ca = new_ca("ca", now=now, lifetime=CA_LIFE)
    return CertBundle(ca, new_serving_cert(ca, dns_names=names, now=now, lifetime=LEAF_LIFE))


@pytest.fixture(scope="module")
def bundle() -> CertBundle:
    return bundle_at(T0)


def test_renewal_is_due_at_two_thirds_of_the_lifetime(bundle: CertBundle) -> None:
    facts = CertFacts.of(bundle.serving.cert_pem)
    due = renewal_due_at(facts)
    lifetime = facts.not_after - facts.not_before
    assert due - facts.not_before == lifetime * 2 / 3
    assert not renewal_due(facts, due - timedelta(seconds=1))
    assert renewal_due(facts, due)
    assert renewal_due(facts, facts.not_before - timedelta(seconds=1)), "not yet valid counts as due"


@pytest.mark.parametrize(
    ("offset", "issue_ca", "issue_serving"),
    [
        (timedelta(days=1), False, False),
        (LEAF_LIFE * 2 / 3 - backdate(LEAF_LIFE) - timedelta(hours=1), False, False),
        (LEAF_LIFE * 2 / 3 + timedelta(hours=1), False, True),
        (LEAF_LIFE + timedelta(days=1), False, True),
        (CA_LIFE * 2 / 3 + timedelta(days=1), True, True),
    ],
    ids=["fresh", "just_before_leaf_renewal", "leaf_renewal_due", "leaf_expired", "ca_rotation_due"],
)
def test_decide_over_time(bundle: CertBundle, offset: timedelta, issue_ca: bool, issue_serving: bool) -> None:
    decision = decide(bundle, dns_names=NAMES, now=T0 + offset)
    assert (decision.issue_ca, decision.issue_serving) == (issue_ca, issue_serving)
    assert decision.changes == (issue_ca or issue_serving)
    if decision.changes:
        assert decision.reasons


def test_nothing_stored_means_issue_everything() -> None:
    decision = decide(None, dns_names=NAMES, now=T0)
    assert decision.issue_ca
    assert decision.issue_serving


def test_missing_name_triggers_reissue(bundle: CertBundle) -> None:
    decision = decide(bundle, dns_names=[*NAMES, "extra.example"], ip_addresses=["127.0.0.1"], now=T0)
    assert decision.issue_serving
    assert not decision.issue_ca
    assert "extra.example" in decision.reasons[0]
    assert "127.0.0.1" in decision.reasons[0]


def test_serving_cert_from_another_ca_triggers_reissue(bundle: CertBundle) -> None:
    foreign = bundle_at(T0)
    mixed = CertBundle(bundle.ca, foreign.serving)
    decision = decide(mixed, dns_names=NAMES, now=T0)
    assert decision.issue_serving
    assert "not signed by the current CA" in decision.reasons[0]


def test_next_bundle_keeps_everything_when_nothing_is_due(bundle: CertBundle) -> None:
    result, decision = next_bundle(bundle, dns_names=NAMES, now=T0 + timedelta(days=1))
    assert result is bundle
    assert not decision.changes


def test_leaf_renewal_keeps_the_ca(bundle: CertBundle) -> None:
    later = T0 + LEAF_LIFE * 0.7
    result, _ = next_bundle(bundle, dns_names=NAMES, now=later, ca_lifetime=CA_LIFE, serving_lifetime=LEAF_LIFE)
    assert result.ca == bundle.ca
    assert result.serving != bundle.serving
    assert result.ca_bundle_pem == bundle.ca_bundle_pem, "a leaf renewal must not touch the caBundle"


def test_ca_rotation_keeps_the_old_ca_trusted_until_it_expires(bundle: CertBundle) -> None:
    rotation = T0 + CA_LIFE * 0.7
    rotated, decision = next_bundle(
        bundle, dns_names=NAMES, now=rotation, ca_lifetime=CA_LIFE, serving_lifetime=LEAF_LIFE
    )
    assert decision.issue_ca
    assert rotated.ca != bundle.ca
    trusted = split_pem_certificates(rotated.ca_bundle_pem)
    assert trusted == [rotated.ca.cert_pem, bundle.ca.cert_pem], "new CA first, old CA kept for the overlap"
    # After the old CA expired, the next run prunes it from the bundle (and changes only that).
    after_expiry = T0 + CA_LIFE + timedelta(days=1)
    pruned, decision = next_bundle(
        rotated, dns_names=NAMES, now=after_expiry, ca_lifetime=CA_LIFE, serving_lifetime=LEAF_LIFE
    )
    assert split_pem_certificates(pruned.ca_bundle_pem)[1:] == []


def test_still_trusted_drops_expired_and_garbage() -> None:
    fresh = new_ca("fresh", now=T0, lifetime=timedelta(days=10)).cert_pem
    old = new_ca("old", now=T0 - timedelta(days=20), lifetime=timedelta(days=10)).cert_pem
    garbage = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    assert still_trusted([fresh, old, garbage], T0) == (fresh,)


def test_non_ca_certificate_stored_as_ca_is_replaced(bundle: CertBundle) -> None:
    broken = CertBundle(bundle.serving, bundle.serving)
    decision = decide(broken, dns_names=NAMES, now=T0)
    assert decision.issue_ca
