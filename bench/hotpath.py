"""Admission hot path, in-process: the pieces every request pays for, against the simple way they replace.

Run: `.venv/bin/python bench/hotpath.py`. Prints microseconds per call (best of 7 repeats) and the ratio to the
peer measured in the same run: deep-copying the object and diffing it with `jsonpatch.make_patch`, which is what
the patch recorder exists to avoid. Loopback-free and bounded (a few seconds).
"""

from __future__ import annotations

import copy
import json
import sys
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonpatch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from admission import dispatch
from admission.patch import PatchRecorder
from admission.protocol import parse_review, render_response
from admission.rules import build_registries
from admission.view import InMemoryClusterView
from crds.defaults import missing_defaults

REPO = Path(__file__).resolve().parents[1]


def best_of(function: Callable[[], object], number: int = 200, repeat: int = 7) -> float:
    """Seconds per call, best of `repeat` runs of `number` calls (the least disturbed measurement)."""
    return min(timeit.repeat(function, number=number, repeat=repeat)) / number


def big_app() -> dict[str, Any]:
    """A 4 KB App in a tenant namespace: labels and annotations as CI systems and Helm leave them."""
    return {
        "apiVersion": "paas.kubeop.io/v1alpha1",
        "kind": "App",
        "metadata": {
            "name": "web",
            "namespace": "kubeop-acme-web",
            "labels": {f"label-{i}": "v" * 20 for i in range(15)},
            "annotations": {f"note-{i}": "x" * 60 for i in range(40)},
        },
        "spec": {"type": "Image", "image": "docker.io/library/nginx:1.25", "host": "web.acme.example"},
    }


def review_body(obj: dict[str, Any]) -> bytes:
    return json.dumps(
        {
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": "u-1",
                "kind": {"group": "paas.kubeop.io", "version": "v1alpha1", "kind": "App"},
                "resource": {"group": "paas.kubeop.io", "version": "v1alpha1", "resource": "apps"},
                "operation": "CREATE",
                "namespace": "kubeop-acme-web",
                "object": obj,
                "userInfo": {"username": "alice", "groups": ["acme-admins", "system:authenticated"]},
            },
        }
    ).encode()


def measure(quick: bool = False) -> list[tuple[str, float]]:
    """(measurement, seconds per call), the peer first; `quick` takes 2 repeats instead of 7 (a smoke run)."""
    repeat = 2 if quick else 7
    app = big_app()
    body = review_body(app)
    view = InMemoryClusterView.from_objects(
        [
            {
                "apiVersion": "paas.kubeop.io/v1alpha1",
                "kind": "Tenant",
                "metadata": {"name": "acme"},
                "spec": {"name": "Acme", "owners": [{"kind": "Group", "name": "acme-admins"}]},
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
    registries = build_registries()
    shop = yaml.safe_load((REPO / "tests/fixtures/manifests/shophub/shop-defaults.yaml").read_text())

    def record() -> object:
        recorder = PatchRecorder(app)
        recorder.ensure_label("app.kubeop.io/managed-by", "kubeop-admission")
        recorder.set_default(("spec", "replicas"), 1)
        return recorder.operations()

    def deepcopy_and_diff() -> object:
        changed = copy.deepcopy(app)
        changed["metadata"]["labels"]["app.kubeop.io/managed-by"] = "kubeop-admission"
        changed["spec"]["replicas"] = 1
        return jsonpatch.make_patch(app, changed).patch

    def whole_mutation() -> bytes:
        request = parse_review(body).request
        verdict = dispatch.mutate(request, view, registries.mutating).verdict
        return json.dumps(render_response(request.uid, verdict)).encode()

    assert record() == [
        {"op": "add", "path": "/metadata/labels/app.kubeop.io~1managed-by", "value": "kubeop-admission"},
        {"op": "add", "path": "/spec/replicas", "value": 1},
    ]
    assert b'"patch"' in whole_mutation()  # the review really patches: the timing measures real work
    return [
        ("deepcopy + jsonpatch.make_patch (peer), 4 KB App", best_of(deepcopy_and_diff, repeat=repeat)),
        ("PatchRecorder: two defaults on the same App", best_of(record, repeat=repeat)),
        (
            "missing_defaults for a Shop",
            best_of(lambda: missing_defaults("apps.shophub.local", "Shop", shop), 2000, repeat),
        ),
        ("parse + mutate (all handlers) + render, 4 KB App", best_of(whole_mutation, repeat=repeat)),
    ]


def main() -> int:
    rows = measure()
    peer = rows[0][1]
    print(f"{'measurement':<52} {'µs/call':>9} {'vs peer':>8}")
    for name, seconds in rows:
        print(f"{name:<52} {seconds * 1e6:>9.1f} {seconds / peer:>8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
