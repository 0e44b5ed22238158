"""Secret references stay inside the referrer's tenant."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from admission.rules.references import secret_references as secret_references_rule
from tests.unit.test_guardrails_support import (
    ADMIN,
    ALICE,
    BOB,
    KUBEOP,
    STRANGER,
    custom,
    judged,
    namespace,
    request,
    respec,
    with_labels,
    world,
)

pytestmark = pytest.mark.unit

secret_references = judged(secret_references_rule)

Who = tuple[str, Sequence[str]]


def channel(ns: str, ref_ns: str | None) -> dict[str, Any]:
    ref = {"name": "bot"} | ({"namespace": ref_ns} if ref_ns else {})
    return respec(
        custom("notify.shophub.local/v1", "DiscordChannel", "c", ns, guildId="1", botTokenRef=ref), name="alerts"
    )


@pytest.mark.parametrize(
    ("obj", "who", "allowed", "text"),
    [
        (channel("kubeop-acme-web", None), ALICE, True, ""),
        (channel("kubeop-acme-web", "kubeop-acme-web"), ALICE, True, ""),
        (channel("kubeop-acme-web", "kubeop-acme-api"), ALICE, True, ""),
        (
            channel("kubeop-acme-web", "kubeop-globex-shop"),
            ALICE,
            False,
            'spec.botTokenRef.namespace "kubeop-globex-shop": namespace "kubeop-globex-shop" is not a namespace of '
            'tenant "acme"',
        ),
        (channel("kubeop-acme-web", "default"), ALICE, False, 'is not a namespace of tenant "acme"'),
        (channel("kubeop-acme-web", "nowhere"), ALICE, False, 'is not known to be one of tenant "acme"'),
        (channel("default", "kubeop-acme-web"), STRANGER, False, "it points into a tenant's namespace"),
        (channel("default", "other"), STRANGER, True, ""),
        (channel("kubeop-acme-web", "kubeop-globex-shop"), ADMIN, True, ""),
    ],
)
def test_discord_bot_tokens_are_read_within_the_tenant(
    obj: Mapping[str, Any], who: Who, allowed: bool, text: str
) -> None:
    view = world(namespace("kubeop-acme-api", "acme", "api"), namespace("other"))
    verdict = secret_references(request(obj, who=who), view)
    assert verdict.allowed is allowed
    assert text in verdict.message


def shop(ns: str, ref_ns: str) -> dict[str, Any]:
    return custom(
        "apps.shophub.local/v1",
        "Shop",
        "s",
        ns,
        title="t",
        walletAddress="",
        discordWebhookSecretRef={"name": "hook", "namespace": ref_ns},
    )


def test_shop_webhook_namespace_is_ignored_with_a_warning() -> None:
    verdict = secret_references(request(shop("kubeop-acme-web", "default")), world())
    assert verdict.allowed
    assert verdict.warnings == (
        'spec.discordWebhookSecretRef.namespace "default" is ignored; the Secret is read from "kubeop-acme-web"',
    )


def test_shop_webhook_namespace_of_another_tenant_is_denied() -> None:
    verdict = secret_references(request(shop("kubeop-acme-web", "kubeop-globex-shop")), world())
    assert not verdict.allowed
    assert "spec.discordWebhookSecretRef.namespace" in verdict.message


def test_shop_webhook_in_its_own_namespace_says_nothing() -> None:
    verdict = secret_references(request(shop("kubeop-acme-web", "kubeop-acme-web")), world())
    assert verdict.allowed
    assert not verdict.warnings


@pytest.mark.parametrize(
    ("ref", "text"),
    [
        ("kubeop-acme-web/ghcr", ""),
        ("kubeop-acme-web/ghcr#token", ""),
        (
            "kubeop-globex-shop/ghcr",
            'spec.passwordRef "kubeop-globex-shop/ghcr": namespace "kubeop-globex-shop" is not a namespace of tenant '
            '"acme", and Registry credentials may only be read within the same tenant; allowed: <namespace>/<name> '
            'with a namespace of tenant "acme", such as "kubeop-acme-web/ghcr"',
        ),
        (
            "ghcr",
            'spec.passwordRef "ghcr" names no namespace, and a tenant\'s Registry may only read its credentials from '
            'a namespace of its own tenant; allowed: <namespace>/<name> with a namespace of tenant "acme", such as '
            '"kubeop-acme-web/ghcr"',
        ),
        ("ghcr#tls.key", 'spec.passwordRef "ghcr#tls.key" names no namespace'),
        ("tenantgate-system/webhook-tls#tls.key", 'namespace "tenantgate-system" is not a namespace of tenant "acme"'),
        ("nowhere/ghcr", 'namespace "nowhere" is not known to be one of tenant "acme"\'s'),
    ],
)
def test_tenant_registry_credentials_stay_in_the_tenant(ref: str, text: str) -> None:
    registry = with_labels(
        custom(KUBEOP, "Registry", "r", host="ghcr.io", username="u", passwordRef=ref), {"app.kubeop.io/tenant": "acme"}
    )
    verdict = secret_references(request(registry), world(namespace("tenantgate-system")))
    assert verdict.allowed is not text, verdict.message
    assert text in verdict.message
    assert not verdict.warnings


def test_wallet_key_reference_stays_in_the_wallets_namespace() -> None:
    wallet = custom("payments.shophub.local/v1", "Wallet", "w", "kubeop-globex-shop", network="sepolia")
    wallet["status"] = {"privateKeySecretRef": {"name": "k", "namespace": "kubeop-acme-web"}}
    verdict = secret_references(request(wallet, who=BOB), world())
    assert not verdict.allowed
    assert 'status.privateKeySecretRef.namespace "kubeop-acme-web"' in verdict.message
    wallet["status"] = {"privateKeySecretRef": {"name": "k", "namespace": "kubeop-globex-shop"}}
    assert secret_references(request(wallet, who=BOB), world()).allowed
