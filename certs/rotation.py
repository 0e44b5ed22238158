"""Turn a `Decision` into the next `CertBundle` (the only step that generates keys)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from certs.bundle import CertBundle
from certs.issue import CA_LIFETIME, SERVING_LIFETIME, new_ca, new_serving_cert
from certs.policy import Decision, decide

CA_COMMON_NAME = "tenantgate-webhook-ca"


def next_bundle(
    existing: CertBundle | None,
    *,
    dns_names: Sequence[str],
    ip_addresses: Sequence[str] = (),
    now: datetime,
    ca_common_name: str = CA_COMMON_NAME,
    ca_lifetime: timedelta = CA_LIFETIME,
    serving_lifetime: timedelta = SERVING_LIFETIME,
) -> tuple[CertBundle, Decision]:
    """The bundle to store from now on (the existing one when nothing is due) and why."""
    decision = decide(existing, dns_names=dns_names, ip_addresses=ip_addresses, now=now)
    if not decision.changes and existing is not None:
        if existing.previous_cas == decision.keep_previous_cas:
            return existing, decision
        return CertBundle(existing.ca, existing.serving, decision.keep_previous_cas), decision
    reuse_ca = existing is not None and not decision.issue_ca
    ca = existing.ca if reuse_ca and existing is not None else new_ca(ca_common_name, now=now, lifetime=ca_lifetime)
    serving = new_serving_cert(ca, dns_names=dns_names, ip_addresses=ip_addresses, now=now, lifetime=serving_lifetime)
    return CertBundle(ca, serving, decision.keep_previous_cas), decision
