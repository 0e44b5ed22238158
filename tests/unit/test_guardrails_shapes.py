"""Every field a guardrail reads, given a value of the wrong JSON type, is a 422 naming it; never a silent allow.

The table in `admission.rules.shapes` says which fields the rules read. These tests put a wrong-typed value at each
of them, one at a time, for every kind, and send the object through the shipped registries (the validating
webhook alone, as `/validate` called directly, and mutate-then-validate, as `tenantgate review`).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest

from admission import dispatch
from admission.protocol import AdmissionRequest
from admission.resources import CUSTOM_KINDS
from admission.rules import build_registries
from admission.rules.shapes import SHAPES, Arr, Obj, Scalar, Shape, StringMap, check_shape
from admission.rules.workloads import POD_SPEC_PATHS
from admission.verdict import MalformedObject
from tests.unit.test_guardrails_support import ADMIN, ALICE, request, world

pytestmark = pytest.mark.unit

API_VERSIONS = {
    "": "v1",
    "apps": "apps/v1",
    "batch": "batch/v1",
    "networking.k8s.io": "networking.k8s.io/v1",
    "paas.kubeop.io": "paas.kubeop.io/v1alpha1",
    "apps.shophub.local": "apps.shophub.local/v1",
    "notify.shophub.local": "notify.shophub.local/v1",
    "thismatters.github": "thismatters.github/v1alpha",
    "blindage.org": "blindage.org/v2",
}
CLUSTER_SCOPED = {"Project", "DNSRecord", "Certificate", "Registry"}
Step = str | int


def slots(shape: Shape, path: str = "", steps: tuple[Step, ...] = ()) -> Iterator[tuple[str, tuple[Step, ...], Shape]]:
    """Every declared field below `shape`: its message path, how to reach it, its shape (arrays through item 0)."""
    if steps:
        yield path, steps, shape
    if isinstance(shape, Obj):
        for key, inner in shape.fields.items():
            yield from slots(inner, f"{path}.{key}" if path else key, (*steps, key))
    elif isinstance(shape, Arr):
        yield from slots(shape.item, f"{path}[0]", (*steps, 0))


def wrong_value(shape: Shape) -> tuple[Any, str]:
    """A value `shape` refuses, and the JSON type the message names."""
    if isinstance(shape, Scalar):
        return ("1", "a string") if shape.expected != "a string" else (7, "a number")
    if isinstance(shape, Obj):
        return (["x"], "an array")
    if isinstance(shape, Arr):
        return ("x", "a string")
    return (["x"], "an array")


def place(root: dict[str, Any], steps: tuple[Step, ...], value: Any) -> None:
    node: Any = root
    for step, following in itertools.pairwise(steps):
        child: Any = [] if isinstance(following, int) else {}
        if isinstance(step, int):
            node.append(child)
        else:
            node[step] = child
        node = child
    if isinstance(steps[-1], int):
        node.append(value)
    else:
        node[steps[-1]] = value


FULLY_WALKED = {"Pod", "Deployment"}
"""The other workload kinds share the pod spec's shape: for them, only the way to it and its first level."""


def _walked(kind: str, path: str) -> bool:
    pod_path = ".".join(POD_SPEC_PATHS.get(("", kind)) or POD_SPEC_PATHS.get(("apps", kind)) or ())
    pod_path = pod_path or ".".join(POD_SPEC_PATHS.get(("batch", kind)) or ())
    if kind in FULLY_WALKED or not pod_path or not path.startswith(pod_path + "."):
        return True
    rest = path[len(pod_path) + 1 :]
    return "." not in rest


def build(group: str, kind: str, steps: tuple[Step, ...], value: Any) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": "w"}
    if kind not in CLUSTER_SCOPED:
        metadata["namespace"] = "kubeop-acme-web"
    else:
        metadata["labels"] = {"app.kubeop.io/tenant": "acme"}
    obj: dict[str, Any] = {"apiVersion": API_VERSIONS[group], "kind": kind, "metadata": metadata}
    place(obj, steps, value)
    return obj


REGISTRIES = build_registries()
VIEW = world()


def _misjudged(req: AdmissionRequest, path: str, found: str, *, offline: bool) -> str | None:
    """What is wrong with the answer to a malformed `req`, or None when it is the 422 naming `path`."""
    verdict = dispatch.validate(req, VIEW, REGISTRIES.validating)
    if (verdict.allowed, verdict.code, verdict.reason) != (False, 422, "Invalid"):
        return f"/validate answered {verdict.allowed} {verdict.code}: {verdict.message}"
    custom = (req.kind.group, req.kind.kind) in CUSTOM_KINDS
    if custom:
        # A custom kind meets its model's validation first; where the CRD schema refuses the field too, the
        # refusal is the API server's own sentence (`crds.structural`), else the model's.
        if f"{path} in body must be of type " not in verdict.message and f"{path}: must be " not in verdict.message:
            return f"/validate named something else: {verdict.message}"
    elif f"is malformed: {path} must be " not in verdict.message or not verdict.message.endswith(
        f", not {found}, as its schema requires"
    ):
        return f"/validate named something else: {verdict.message}"
    if offline:
        outcome = dispatch.review(req, VIEW, REGISTRIES)
        if outcome.allowed or outcome.final.code != 422:
            return f"review answered {outcome.allowed} {outcome.final.code}: {outcome.final.message}"
    return None


@pytest.mark.parametrize(("group", "kind"), list(SHAPES), ids=[f"{g or 'core'}/{k}" for g, k in SHAPES])
def test_a_wrong_typed_field_is_a_422_naming_it(group: str, kind: str) -> None:
    wrong = []
    for path, steps, inner in slots(SHAPES[(group, kind)]):
        if not _walked(kind, path):
            continue
        value, found = wrong_value(inner)
        # A tenant's owner, offline too; and a platform admin, whom several "what" rules exempt.
        for who, offline in ((ALICE, True), (ADMIN, False)):
            problem = _misjudged(request(build(group, kind, steps, value), who=who), path, found, offline=offline)
            if problem:
                wrong.append(f"{path} as {who[0]}: {problem}")
    assert not wrong, "\n".join(wrong)


def test_every_family_of_judged_kind_has_its_fields_declared() -> None:
    paths = {(g, k): {p for p, _, _ in slots(shape)} for (g, k), shape in SHAPES.items()}
    deployment = paths[("apps", "Deployment")]
    for field in (
        "spec.template.spec.containers",
        "spec.template.spec.initContainers[0]",
        "spec.template.spec.ephemeralContainers[0].image",
        "spec.template.spec.containers[0].ports[0].hostPort",
        "spec.template.spec.containers[0].securityContext.capabilities.add[0]",
        "spec.template.metadata.labels",
    ):
        assert field in deployment
    assert "spec.jobTemplate.spec.template.spec.containers[0].securityContext" in paths[("batch", "CronJob")]
    assert {"spec.rules[0].host", "spec.tls[0].hosts[0]"} <= paths[("networking.k8s.io", "Ingress")]
    assert "spec.egress[0].to[0].ipBlock.except[0]" in paths[("networking.k8s.io", "NetworkPolicy")]
    assert "spec.externalIPs[0]" in paths[("", "Service")]


@pytest.mark.parametrize(
    ("value", "shape"),
    [
        (None, Obj({})),
        ({"a": None}, Obj({"a": Arr(Scalar("a string", (str,)))})),
        ({"unread": 7}, Obj({"a": Obj({})})),
        ([], Arr(Obj({}))),
        ({"k": "v"}, StringMap()),
        (5, Scalar("an integer", (int,))),
    ],
    ids=["null-is-absent", "null-field", "unread-field", "empty-array", "string-map", "integer"],
)
def test_well_typed_values_pass(value: Any, shape: Shape) -> None:
    check_shape(value, shape, "spec")


@pytest.mark.parametrize(
    ("value", "shape", "message"),
    [
        (True, Scalar("an integer", (int,)), "spec must be an integer, not a boolean"),
        ({"a.b/c": 1}, StringMap(), 'spec["a.b/c"] must be a string, not a number'),
        ([{}, "x"], Arr(Obj({})), "spec[1] must be an object, not a string"),
    ],
    ids=["boolean-is-not-integer", "label-key-quoted", "second-item"],
)
def test_wrong_typed_values_are_named(value: Any, shape: Shape, message: str) -> None:
    with pytest.raises(MalformedObject) as caught:
        check_shape(value, shape, "spec")
    assert str(caught.value) == message
