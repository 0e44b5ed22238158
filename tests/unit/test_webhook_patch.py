"""PatchRecorder: recorded operations reproduce the intended object, keep unknown fields, and are idempotent."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import jsonpatch
import pytest

from admission.patch import PatchError, PatchRecorder, escape_segment, parse_pointer, pointer

pytestmark = pytest.mark.unit

Steps = Callable[[PatchRecorder], None]

APP: dict[str, Any] = {
    "apiVersion": "paas.kubeop.io/v1alpha1",
    "kind": "App",
    "metadata": {"name": "web", "namespace": "kubeop-acme-web", "labels": {"team": "a"}},
    "spec": {"type": "Image", "image": "nginx:1.25", "futureField": {"kept": [1, 2, {"deep": True}]}},
    "status": {"unknownToModels": "x"},
}


def _with(path: tuple[Any, ...], value: Any, base: dict[str, Any] | None = None) -> dict[str, Any]:
    result = copy.deepcopy(APP if base is None else base)
    node = result
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value
    return result


CASES: list[tuple[str, dict[str, Any], Steps, dict[str, Any]]] = [
    (
        "set_default_adds_absent_leaf",
        APP,
        lambda r: r.set_default(("spec", "replicas"), 1),
        _with(("spec", "replicas"), 1),
    ),
    (
        "set_default_keeps_present_value",
        APP,
        lambda r: r.set_default(("spec", "image"), "other"),
        APP,
    ),
    (
        "set_default_creates_missing_parents",
        APP,
        lambda r: r.set_default(("spec", "autoscalers", "app", "enabled"), True),
        _with(("spec", "autoscalers"), {"app": {"enabled": True}}),
    ),
    (
        "set_default_treats_null_as_absent",
        _with(("spec", "hooks"), None),
        lambda r: r.set_default(("spec", "hooks"), {"pre": []}),
        _with(("spec", "hooks"), {"pre": []}),
    ),
    (
        "set_default_escapes_slash_and_tilde_in_keys",
        APP,
        lambda r: r.set_default(("metadata", "annotations", "a/b~c"), "v"),
        _with(("metadata", "annotations"), {"a/b~c": "v"}),
    ),
    (
        "set_replaces_different_value",
        APP,
        lambda r: r.set(("spec", "image"), "nginx:1.26"),
        _with(("spec", "image"), "nginx:1.26"),
    ),
    (
        "set_adds_absent_value",
        APP,
        lambda r: r.set(("spec", "host"), "web.example"),
        _with(("spec", "host"), "web.example"),
    ),
    (
        "set_inside_list_item",
        APP,
        lambda r: r.set(("spec", "futureField", "kept", 2, "deep"), False),
        _with(("spec", "futureField"), {"kept": [1, 2, {"deep": False}]}),
    ),
    (
        "ensure_label_adds_key_to_existing_labels",
        APP,
        lambda r: r.ensure_label("app.kubeop.io/managed-by", "kubeop-admission"),
        _with(("metadata", "labels"), {"team": "a", "app.kubeop.io/managed-by": "kubeop-admission"}),
    ),
    (
        "ensure_label_creates_labels",
        {"metadata": {"name": "x"}},
        lambda r: r.ensure_label("k", "v"),
        {"metadata": {"name": "x", "labels": {"k": "v"}}},
    ),
    (
        "ensure_label_keeps_user_value",
        _with(("metadata", "labels"), {"k": "mine"}),
        lambda r: r.ensure_label("k", "v"),
        _with(("metadata", "labels"), {"k": "mine"}),
    ),
    (
        "ensure_label_overwrite_replaces_user_value",
        _with(("metadata", "labels"), {"k": "mine"}),
        lambda r: r.ensure_label("k", "v", overwrite=True),
        _with(("metadata", "labels"), {"k": "v"}),
    ),
    (
        "remove_present_key",
        APP,
        lambda r: r.remove(("status",)),
        {k: v for k, v in APP.items() if k != "status"},
    ),
    (
        "remove_absent_key_is_noop",
        APP,
        lambda r: r.remove(("spec", "nothing")),
        APP,
    ),
    (
        "later_writes_see_earlier_ones",
        {"metadata": {}},
        lambda r: (r.set_default(("spec",), {}), r.set_default(("spec", "a"), 1), r.set(("spec", "a"), 2)),
        {"metadata": {}, "spec": {"a": 2}},
    ),
]


@pytest.mark.parametrize(("original", "steps", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_recorded_patch_produces_expected_object(
    original: dict[str, Any], steps: Steps, expected: dict[str, Any]
) -> None:
    pristine = copy.deepcopy(original)
    recorder = PatchRecorder(original)
    steps(recorder)
    operations = recorder.operations()
    assert jsonpatch.apply_patch(original, operations) == expected
    assert recorder.current == expected
    assert original == pristine, "the raw object must never be modified"


@pytest.mark.parametrize(("original", "steps", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_rerunning_on_result_records_nothing(original: dict[str, Any], steps: Steps, expected: dict[str, Any]) -> None:
    first = PatchRecorder(original)
    steps(first)
    again = PatchRecorder(jsonpatch.apply_patch(original, first.operations()))
    steps(again)
    assert again.operations() == []


def test_missing_parents_are_added_as_empty_objects_first() -> None:
    recorder = PatchRecorder({"metadata": {"name": "x"}})
    recorder.set_default(("spec", "a", "b"), 1)
    assert recorder.operations() == [
        {"op": "add", "path": "/spec", "value": {}},
        {"op": "add", "path": "/spec/a", "value": {}},
        {"op": "add", "path": "/spec/a/b", "value": 1},
    ]


def test_label_key_is_escaped_per_rfc6901() -> None:
    recorder = PatchRecorder({"metadata": {"labels": {}}})
    recorder.ensure_label("app.kubeop.io/managed-by", "kubeop-admission")
    assert recorder.operations() == [
        {"op": "add", "path": "/metadata/labels/app.kubeop.io~1managed-by", "value": "kubeop-admission"}
    ]


@pytest.mark.parametrize(
    ("segment", "escaped"), [("a/b", "a~1b"), ("a~b", "a~0b"), ("~1", "~01"), ("plain", "plain"), (3, "3")]
)
def test_pointer_escaping_round_trips(segment: str | int, escaped: str) -> None:
    assert escape_segment(segment) == escaped
    assert parse_pointer(pointer(("x", segment))) == ("x", str(segment))


def test_recorded_values_are_not_aliased_to_caller_objects() -> None:
    value = {"pre": []}
    recorder = PatchRecorder({"spec": {}})
    recorder.set_default(("spec", "hooks"), value)
    value["pre"].append("mutated later")
    assert recorder.operations()[0]["value"] == {"pre": []}


def test_earlier_operation_values_survive_later_writes_below_them() -> None:
    recorder = PatchRecorder({"spec": {}})
    recorder.set_default(("spec", "a"), {})
    recorder.set_default(("spec", "a", "b"), 1)
    assert recorder.operations()[0] == {"op": "add", "path": "/spec/a", "value": {}}


def test_writing_below_a_scalar_is_an_error() -> None:
    recorder = PatchRecorder({"spec": "text"})
    with pytest.raises(PatchError):
        recorder.set_default(("spec", "a"), 1)


def test_apply_replays_foreign_operations_and_later_reads_see_them() -> None:
    recorder = PatchRecorder(APP)
    recorder.apply([{"op": "add", "path": "/metadata/labels/x", "value": "1"}])
    assert recorder.get(("metadata", "labels", "x")) == "1"
    recorder.set_default(("metadata", "labels", "x"), "2")
    assert jsonpatch.apply_patch(APP, recorder.operations())["metadata"]["labels"]["x"] == "1"


def test_apply_supports_list_append_and_index() -> None:
    original = {"spec": {"items": [1, 2]}}
    ops = [
        {"op": "add", "path": "/spec/items/-", "value": 3},
        {"op": "replace", "path": "/spec/items/0", "value": 0},
        {"op": "remove", "path": "/spec/items/1"},
    ]
    recorder = PatchRecorder(original)
    recorder.apply(ops)
    assert recorder.current == jsonpatch.apply_patch(original, ops) == {"spec": {"items": [0, 3]}}


@pytest.mark.parametrize(
    "bad",
    [
        [{"op": "replace", "path": "/spec/missing", "value": 1}],
        [{"op": "remove", "path": "/nothing"}],
        [{"op": "add", "path": "/spec/items/9", "value": 1}],
        [{"op": "move", "from": "/a", "path": "/b"}],
        [{"op": "add", "path": "no-slash", "value": 1}],
    ],
)
def test_apply_rejects_operations_that_do_not_fit_and_keeps_nothing(bad: list[dict[str, Any]]) -> None:
    original = {"spec": {"items": [1]}}
    recorder = PatchRecorder(original)
    recorder.set_default(("spec", "x"), 1)
    with pytest.raises(PatchError):
        recorder.apply([{"op": "add", "path": "/spec/y", "value": 2}, *bad])
    assert recorder.operations() == [{"op": "add", "path": "/spec/x", "value": 1}]
    assert recorder.current == {"spec": {"items": [1], "x": 1}}
