"""When to issue, renew or rotate: pure decisions over certificate facts and the current time.

Renewal happens at two thirds of a certificate's lifetime, which leaves a third of it for the
new certificate to reach every replica (kubelet Secret sync takes up to a minute or two) before the old
one expires. The CA follows the same rule; when it rotates, the old CA stays in the trust bundle until
it expires, so certificates it signed remain valid while they are phased out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from certs.bundle import CertBundle, CertFacts, InvalidBundle, issued_by

RENEW_AT: Final = 2 / 3


def renewal_due_at(facts: CertFacts) -> datetime:
    return facts.not_before + (facts.not_after - facts.not_before) * RENEW_AT


def renewal_due(facts: CertFacts, now: datetime) -> bool:
    """True from two thirds of the lifetime on (and for anything expired or not yet valid)."""
    return now >= renewal_due_at(facts) or now < facts.not_before


@dataclass(frozen=True, slots=True)
class Decision:
    """What `ensure` must do; `reasons` are short sentences for the log."""

    issue_ca: bool
    issue_serving: bool
    reasons: tuple[str, ...]
    keep_previous_cas: tuple[bytes, ...]

    @property
    def changes(self) -> bool:
        return self.issue_ca or self.issue_serving


def still_trusted(ca_pems: Sequence[bytes], now: datetime) -> tuple[bytes, ...]:
    """The previous CAs worth keeping in the bundle: parsable and not expired."""
    kept = []
    for pem in ca_pems:
        try:
            if CertFacts.of(pem).not_after > now:
                kept.append(pem)
        except InvalidBundle:
            continue
    return tuple(kept)


def decide(
    bundle: CertBundle | None,
    *,
    dns_names: Sequence[str],
    ip_addresses: Sequence[str] = (),
    now: datetime,
) -> Decision:
    """Compare what exists with what is needed at `now`."""
    if bundle is None:
        return Decision(True, True, ("no certificates yet",), ())
    ca = CertFacts.of(bundle.ca.cert_pem)
    previous = still_trusted(bundle.previous_cas, now)
    if not ca.is_ca:
        return Decision(True, True, ("the stored CA certificate is not a CA",), previous)
    if renewal_due(ca, now):
        keep = ((bundle.ca.cert_pem,) if ca.not_after > now else ()) + previous
        return Decision(True, True, (f"CA reached 2/3 of its lifetime (expires {ca.not_after:%Y-%m-%d})",), keep)
    reasons: list[str] = []
    serving = CertFacts.of(bundle.serving.cert_pem)
    if renewal_due(serving, now):
        reasons.append(f"serving certificate reached 2/3 of its lifetime (expires {serving.not_after:%Y-%m-%d})")
    missing = (set(dns_names) - serving.dns_names) | (set(ip_addresses) - serving.ip_addresses)
    if missing:
        reasons.append(f"serving certificate lacks {', '.join(sorted(missing))}")
    if not issued_by(bundle.serving.cert_pem, bundle.ca.cert_pem):
        reasons.append("serving certificate was not signed by the current CA")
    return Decision(False, bool(reasons), tuple(reasons), previous)
