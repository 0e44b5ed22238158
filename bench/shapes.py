"""What the depth and shape checks cost a review, in process: the same requests with and without them.

Run: `.venv/bin/python bench/shapes.py`. Prints microseconds per call (the best of 25 runs, with
and without measured in alternating runs so that both see the same load; CPU time of
this process, so that other processes on a shared machine count less) for a Deployment with
three containers and an Ingress with three hosts, both in a tenant namespace:

- parsing: `parse_review` (the bracket count, and for bodies with more brackets than the depth limit,
  `json.loads` + `json_depth` + validation) against pydantic's `model_validate_json` alone;
- validating: `dispatch.validate` with the shipped registries against the same registries without
  `well_formed` (`HandlerRegistry.without`), and `check_shape` alone.

Loopback-free and bounded (a few seconds).
"""

from __future__ import annotations

import json
import sys
import time
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from admission import dispatch
from admission.protocol import AdmissionReview, parse_review
from admission.registry import HandlerRegistry
from admission.rules import build_registries
from admission.rules.shapes import SHAPES, check_shape, well_formed
from admission.view import InMemoryClusterView


def best_of(function: Callable[[], object], number: int = 500, repeat: int = 7) -> float:
    """Seconds per call, best of `repeat` runs of `number` calls (the least disturbed measurement)."""
    return min(timeit.repeat(function, number=number, repeat=repeat, timer=time.process_time)) / number


def paired(
    first: Callable[[], object], second: Callable[[], object], number: int = 200, rounds: int = 25
) -> tuple[float, float]:
    """Seconds per call of each, measured in alternating runs so that both see the same load; best run of each."""
    a, b = [], []
    for _ in range(rounds):
        a.append(timeit.timeit(first, number=number, timer=time.process_time) / number)
        b.append(timeit.timeit(second, number=number, timer=time.process_time) / number)
    return min(a), min(b)


def container(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "image": f"ghcr.io/acme/{name}:1.4.2",
        "ports": [{"containerPort": 8080, "name": "http"}, {"containerPort": 9090, "name": "metrics"}],
        "env": [{"name": f"VAR_{i}", "value": "x" * 20} for i in range(8)],
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": [{"name": "cache", "mountPath": "/cache"}],
    }


def deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "kubeop-acme-web", "labels": {"app": "web"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}, "annotations": {"checksum/config": "0" * 64}},
                "spec": {
                    "initContainers": [container("migrate")],
                    "containers": [container("web"), container("worker")],
                    "volumes": [{"name": "cache", "emptyDir": {}}],
                    "securityContext": {"runAsNonRoot": True},
                },
            },
        },
    }


def ingress() -> dict[str, Any]:
    hosts = ["www.acme.example", "api.acme.example", "shop.acme.example"]
    backend = {"service": {"name": "web", "port": {"number": 80}}}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "web", "namespace": "kubeop-acme-web"},
        "spec": {
            "rules": [
                {"host": host, "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]}}
                for host in hosts
            ],
            "tls": [{"hosts": hosts, "secretName": "web-tls"}],
        },
    }


def body(obj: dict[str, Any]) -> bytes:
    group, _, version = obj["apiVersion"].rpartition("/")
    return json.dumps(
        {
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": "u-1",
                "kind": {"group": group, "version": version, "kind": obj["kind"]},
                "resource": {"group": group, "version": version, "resource": obj["kind"].lower() + "s"},
                "operation": "CREATE",
                "namespace": "kubeop-acme-web",
                "object": obj,
                "userInfo": {"username": "alice", "groups": ["acme-admins", "system:authenticated"]},
            },
        }
    ).encode()


def measure(
    name: str,
    raw: bytes,
    view: InMemoryClusterView,
    shipped: HandlerRegistry,
    without: HandlerRegistry,
    rounds: int = 25,
) -> list[tuple[str, float]]:
    request = parse_review(raw).request
    shape = SHAPES[(request.kind.group, request.kind.kind)]
    verdict = dispatch.validate(request, view, shipped)
    assert verdict.allowed, verdict.message  # the timing measures an admitted review, every rule in full
    assert dispatch.validate(request, view, without).allowed
    direct, parsed = paired(lambda: AdmissionReview.model_validate_json(raw), lambda: parse_review(raw), rounds=rounds)
    without_check, with_check = paired(
        lambda: dispatch.validate(request, view, without),
        lambda: dispatch.validate(request, view, shipped),
        rounds=rounds,
    )
    return [
        (f"{name}: {len(raw)} B, model_validate_json alone", direct),
        (f"{name}: parse_review (with the depth check)", parsed),
        (f"{name}: validate without well_formed", without_check),
        (f"{name}: validate with well_formed", with_check),
        (
            f"{name}: check_shape alone",
            best_of(lambda: check_shape(request.object, shape, ""), repeat=min(7, rounds)),
        ),
    ]


def measure_all(quick: bool = False) -> list[tuple[str, float]]:
    """(measurement, seconds per call) for both objects; `quick` takes 3 rounds instead of 25 (a smoke run)."""
    rounds = 3 if quick else 25
    view = InMemoryClusterView.from_objects(
        [
            {
                "apiVersion": "paas.kubeop.io/v1alpha1",
                "kind": "Tenant",
                "metadata": {"name": "acme"},
                "spec": {
                    "name": "Acme",
                    "owners": [{"kind": "Group", "name": "acme-admins"}],
                    "allowedRegistries": {"exact": ["ghcr.io/acme"]},
                    "allowedDomains": ["*.acme.example"],
                },
            },
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {
                    "name": "kubeop-acme-web",
                    "labels": {"app.kubeop.io/tenant": "acme", "app.kubeop.io/project": "web"},
                },
            },
        ]
    )
    shipped = build_registries().validating
    without = shipped.without(well_formed)
    return [
        row
        for name, obj in (("Deployment, 3 containers", deployment()), ("Ingress, 3 hosts", ingress()))
        for row in measure(name, body(obj), view, shipped, without, rounds)
    ]


def main() -> int:
    print(f"{'measurement':<60} {'µs/call':>9}")
    for label, seconds in measure_all():
        print(f"{label:<60} {seconds * 1e6:>9.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
