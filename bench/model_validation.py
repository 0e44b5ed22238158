"""Cost of the kind's model validation on `/validate`, in process: a review with it against one without, same run.

Run: `.venv/bin/python bench/model_validation.py`. Prints microseconds per validating review (best of 7 repeats)
for a Shop, a Wallet with an owner address (the EIP-55 check), a thismatters Django and a kubeOP App in a
tenant namespace, with the shipped registries and with the same registries minus `validate_custom_kind`.
"""

from __future__ import annotations

import sys
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import yaml

from admission import dispatch
from admission.context import RequestContext
from admission.protocol import AdmissionRequest
from admission.registry import Registries
from admission.review import request_for
from admission.rules import build_registries
from admission.rules.model_validation import validate_custom_kind
from admission.view import InMemoryClusterView

REPO = Path(__file__).resolve().parents[1]
CASES = {
    "Shop": "tests/fixtures/manifests/shophub/shop-postgres-standard.yaml",
    "Wallet (ownerAddress)": "tests/fixtures/manifests/shophub/wallet-owner-address.yaml",
    "Django (thismatters)": "tests/fixtures/manifests/django/thismatters-full.yaml",
    "App (tenant namespace)": "deploy/examples/40-app-image.yaml",
}


def best_of(function: Callable[[], object], number: int = 300, repeat: int = 7) -> float:
    return min(timeit.repeat(function, number=number, repeat=repeat)) / number


def without_model_validation() -> Registries:
    """The shipped registries as they were before the model validation: every other handler, same order."""
    shipped = build_registries()
    trimmed = Registries(mutating=shipped.mutating)
    for group, kind, operations, handler in shipped.validating._entries:  # the registration order is the run order
        if handler is not validate_custom_kind:
            trimmed.validating.add(group, kind, operations, handler)
    return trimmed


def measure(quick: bool = False) -> list[tuple[str, float, float]]:
    """(object, µs with, µs without) per case; `quick` takes 2 repeats instead of 7 (a smoke run)."""
    repeat = 2 if quick else 7
    setup = [
        *yaml.safe_load_all((REPO / "deploy/examples/00-tenant-acme.yaml").read_text()),
        *yaml.safe_load_all((REPO / "deploy/examples/10-project-web.yaml").read_text()),
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": "kubeop-acme-web",
                "labels": {"app.kubeop.io/tenant": "acme", "app.kubeop.io/project": "web"},
            },
        },
    ]
    view = InMemoryClusterView.from_objects([doc for doc in setup if doc])
    shipped = build_registries()
    trimmed = without_model_validation()
    rows = []
    for label, path in CASES.items():
        body: dict[str, Any] = yaml.safe_load((REPO / path).read_text())
        request = request_for(body, uid="bench", operation="CREATE", user="root", groups=["system:masters"])
        mutated = dispatch.review(request, view, shipped).patched_object or request.object
        validated = request.model_copy(update={"object": mutated})

        def run(registries: Registries, request: AdmissionRequest = validated) -> Callable[[], object]:
            return lambda: dispatch.validate(request, view, registries.validating, RequestContext(request, view))

        rows.append((label, best_of(run(shipped), repeat=repeat) * 1e6, best_of(run(trimmed), repeat=repeat) * 1e6))
    return rows


def main() -> int:
    print(f"{'object':<24} {'with µs':>9} {'without µs':>11} {'added µs':>9}")
    for label, with_it, without in measure():
        print(f"{label:<24} {with_it:>9.1f} {without:>11.1f} {with_it - without:>9.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
