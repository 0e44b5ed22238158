"""What a controller needs beyond the schema: the fields without which an admitted object could only degrade.

Upstream schemas were looser than their controllers: thismatters' Django lists no required fields yet its
operator stops with "Spec missing required field" without `host`, `image`, `version` and `clusterIssuer`; a
Wallet's `ownerAddress` was never checked against its `network`. Admission refuses such objects with the same
field paths the controller would report, so a user hears about them from `kubectl apply`, not from a Degraded
condition minutes later. Objects upstream admitted and could run stay admitted; where upstream deliberately
admits a value that turns a feature off (a Shop's empty `walletAddress`), the object is admitted with a warning.

`runnable_problems(obj)` returns the problems (each a `FieldError` naming path, value, rule and what is allowed)
and `runnable_warnings(obj)` the warnings, both pure functions of a parsed object.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any, Final

from crds import django_thismatters, shophub_apps, shophub_payments
from crds.addresses import address_family, address_problem
from crds.common import CustomResource
from crds.validation import FieldError

EMPTY_WALLET_WARNING: Final = "spec.walletAddress is empty: payment verification is off for this shop"
DJANGO_RUN_FIELDS: Final = (
    ("host", "host"),
    ("image", "image"),
    ("version", "version"),
    ("cluster_issuer", "clusterIssuer"),
)
DJANGO_PURPOSES: Final = ("app", "worker", "beat")


def _show(value: Any) -> str:
    return json.dumps(value)


def _shop(shop: shophub_apps.Shop) -> Iterator[FieldError]:
    address = shop.spec.wallet_address
    if address and address_family(address) is None:
        yield FieldError(
            "spec.walletAddress",
            f"{_show(address)} is not a wallet address: a shop's payout address must be an EVM address "
            "(0x and 40 hex digits, EIP-55 checksum when mixed case) or a Solana address (base58, 32 bytes); "
            "leave it empty to run without payment verification",
        )


def _wallet(wallet: shophub_payments.Wallet) -> Iterator[FieldError]:
    address, network = wallet.spec.owner_address, wallet.spec.network
    if not address:
        return
    problem = address_problem(network, address)
    if problem is not None:
        yield FieldError(
            "spec.ownerAddress",
            f"{_show(address)} is not a {network} address: it {problem}; "
            "leave ownerAddress empty to have a key generated",
        )


def _django_thismatters(django: django_thismatters.Django) -> Iterator[FieldError]:
    spec = django.spec or django_thismatters.DjangoSpec()
    for attribute, wire in DJANGO_RUN_FIELDS:
        if not getattr(spec, attribute):
            yield FieldError(
                f"spec.{wire}",
                f"is required: the Django operator cannot run without spec.{wire} "
                f"(got {_show(getattr(spec, attribute))}); set a non-empty string",
            )
    for purpose in DJANGO_PURPOSES:
        command = getattr(spec.commands, purpose, None) if spec.commands is not None else None
        if command is None or not command.command:
            yield FieldError(
                f"spec.commands.{purpose}.command",
                f"is required: the {purpose} container has no command; set it, such as [gunicorn] or [celery]",
            )


_CHECKS: Final[dict[type[CustomResource], Callable[[Any], Iterator[FieldError]]]] = {
    shophub_apps.Shop: _shop,
    shophub_payments.Wallet: _wallet,
    django_thismatters.Django: _django_thismatters,
}


def runnable_problems(obj: CustomResource) -> list[FieldError]:
    """Why the controller could not run `obj` although its schema admits it; empty when it can."""
    check = _CHECKS.get(type(obj))
    return list(check(obj)) if check is not None else []


def runnable_warnings(obj: CustomResource) -> list[str]:
    """Facts a user should hear about an admitted object (each ≤ 120 characters)."""
    if isinstance(obj, shophub_apps.Shop) and not obj.spec.wallet_address:
        return [EMPTY_WALLET_WARNING]
    return []
