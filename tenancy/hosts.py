"""The one canonical form of a hostname, shared by admission and the controller.

Admission judges hosts in this form (allowed domains, collisions between tenants), so whatever leaves tenantgate
for a host (a DNS provider's record, an external-dns DNSEndpoint, a cert-manager Certificate's `dnsNames`) must be
in the same form: otherwise the host that was judged and the host that is published could differ.
"""

from __future__ import annotations


def normalize_host(host: str) -> str:
    """A hostname in the one form it is compared in: lowercase, without the trailing dot of a fully qualified
    name, and internationalised labels in their ASCII (punycode) form, the name DNS and TLS actually use, so
    `Shop.Acme.Example.` is `shop.acme.example` and `bücher.example` is `xn--bcher-kva.example`."""
    text = host.strip().rstrip(".").lower()
    if text.isascii():
        return text
    try:
        return text.encode("idna").decode("ascii")
    except UnicodeError:
        return text
