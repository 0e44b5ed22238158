"""A Tenant's event webhooks: https URLs, and signing keys read only from the tenant's own namespaces."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from admission.rules.event_webhooks import event_webhooks as event_webhooks_rule
from tenancy.event_webhooks import is_loopback_host, url_problem
from tests.unit.test_guardrails_support import ACME, ADMIN, ALICE, judged, request, world

pytestmark = pytest.mark.unit

event_webhooks = judged(event_webhooks_rule)

Who = tuple[str, Sequence[str]]


def acme_with(*hooks: Mapping[str, Any]) -> dict[str, Any]:
    return {**ACME, "spec": {**ACME["spec"], "eventWebhooks": list(hooks)}}


def hook(url: str = "https://hooks.acme.example/kubeop", **ref: str) -> dict[str, Any]:
    return {"url": url, "secretRef": {"name": "hmac", **ref}} if ref else {"url": url}


@pytest.mark.parametrize(
    ("url", "allow_http", "problem"),
    [
        ("https://hooks.acme.example/x", False, None),
        ("https://127.0.0.1:8443/x", False, None),
        ("http://hooks.acme.example/x", True, "plain http is not allowed; use https"),
        ("http://127.0.0.1:9000/x", False, "only when the platform sets TENANTGATE_EVENTS_ALLOW_HTTP_LOOPBACK"),
        ("http://127.0.0.1:9000/x", True, None),
        ("http://[::1]:9000/x", True, None),
        ("http://localhost/x", True, None),
        ("ftp://hooks.acme.example/x", True, "scheme 'ftp' is not https"),
        ("https://user:token@hooks.acme.example/x", False, "carries credentials"),
        ("https:///x", False, "names no host"),
        ("https://hooks.acme.example:99999/x", False, "not a valid URL"),
    ],
)
def test_url_problem(url: str, allow_http: bool, problem: str | None) -> None:
    found = url_problem(url, allow_http_loopback=allow_http)
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert problem in found
        assert "token" not in found  # never repeats the URL
        assert "acme.example" not in found


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.8.9.1", True), ("[::1]", True), ("localhost", True), ("a.localhost", True),
     ("10.0.0.1", False), ("localhost.evil.example", False), ("hooks.example", False)],
)  # fmt: skip
def test_is_loopback_host(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


@pytest.mark.parametrize(
    ("hooks", "who", "allowed", "text"),
    [
        ([hook()], ALICE, True, ""),
        ([hook(namespace="kubeop-acme-web")], ALICE, True, ""),
        (
            [hook(namespace="kubeop-globex-shop")],
            ALICE,
            False,
            'spec.eventWebhooks[0].secretRef "kubeop-globex-shop/hmac": namespace "kubeop-globex-shop" is not a '
            'namespace of tenant "acme"',
        ),
        ([hook(namespace="default")], ALICE, False, 'is not a namespace of tenant "acme"'),
        ([hook(namespace="nowhere")], ALICE, False, 'is not known to be one of tenant "acme"'),
        ([hook(name="hmac")], ALICE, False, "names no namespace, which means tenantgate's own namespace"),
        ([hook(name="hmac")], ADMIN, True, ""),
        ([hook(namespace="kubeop-globex-shop")], ADMIN, True, ""),
        ([hook("http://hooks.acme.example/x")], ADMIN, False, "spec.eventWebhooks[0].url is refused: plain http"),
        ([hook(), hook("http://127.0.0.1:1/x")], ALICE, False, "spec.eventWebhooks[1].url is refused"),
    ],
)
def test_event_webhooks_stay_within_the_tenant(hooks: list[dict[str, Any]], who: Who, allowed: bool, text: str) -> None:
    verdict = event_webhooks(request(acme_with(*hooks), who=who), world())
    assert verdict.allowed is allowed, verdict.message
    assert text in verdict.message
    if not allowed:
        assert "allowed:" in verdict.message
        assert "acme.example/x" not in verdict.message


def test_http_loopback_is_allowed_when_the_platform_enables_it() -> None:
    obj = acme_with(hook("http://127.0.0.1:9000/events"))
    assert not event_webhooks(request(obj), world()).allowed
    assert event_webhooks(request(obj), world(TENANTGATE_EVENTS_ALLOW_HTTP_LOOPBACK="true")).allowed


def test_a_reference_already_present_is_not_judged_again_on_update() -> None:
    old = acme_with(hook(name="hmac"))  # set by a platform admin
    new = acme_with(hook(name="hmac"), hook("https://other.acme.example/x", namespace="kubeop-acme-web"))
    assert event_webhooks(request(new, "UPDATE", old=old), world()).allowed
    moved = acme_with(hook(name="other"))
    assert not event_webhooks(request(moved, "UPDATE", old=old), world()).allowed


def test_a_url_already_present_is_not_judged_again_on_update() -> None:
    old = acme_with(hook("http://127.0.0.1:9000/events"))  # admitted while the platform allowed it
    renamed = {**old, "spec": {**old["spec"], "name": "ACME Inc"}}
    assert event_webhooks(request(renamed, "UPDATE", old=old), world()).allowed
    moved = acme_with(hook("http://127.0.0.1:9001/events"))
    assert not event_webhooks(request(moved, "UPDATE", old=old), world()).allowed
