"""The custom kinds tenantgate serves (API.md Part A), as (group, kind).

The defaulting webhook registers for exactly these; the list mirrors the webhook configuration rules in the
chart, so an object reaches the generic defaulter only when its kind is one tenantgate owns.
"""

from __future__ import annotations

from typing import Final

SERVED_KINDS: Final[tuple[tuple[str, str], ...]] = (
    ("apps.shophub.local", "Shop"),
    ("notify.shophub.local", "DiscordChannel"),
    ("payments.shophub.local", "Wallet"),
    ("paas.kubeop.io", "Tenant"),
    ("paas.kubeop.io", "Project"),
    ("paas.kubeop.io", "App"),
    ("paas.kubeop.io", "DNSRecord"),
    ("paas.kubeop.io", "Certificate"),
    ("paas.kubeop.io", "Policy"),
    ("paas.kubeop.io", "Registry"),
    ("thismatters.github", "Django"),
    ("blindage.org", "Django"),
)
