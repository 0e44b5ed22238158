"""The AdmissionReview wire format: what is a bad webhook request (400) and how verdicts are rendered."""

from __future__ import annotations

import base64
import json
import re
import unicodedata
from typing import Any

import pytest

from admission.protocol import MAX_OBJECT_DEPTH, BadReview, decode_patch, json_depth, parse_review, render_response
from admission.verdict import (
    ELLIPSIS,
    MAX_WARNING_CHARS,
    Verdict,
    allowed,
    clip_warning,
    denied,
    errored,
    patched,
)

pytestmark = pytest.mark.unit


def review(**request: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
        "kind": {"group": "paas.kubeop.io", "version": "v1alpha1", "kind": "Project"},
        "resource": {"group": "paas.kubeop.io", "version": "v1alpha1", "resource": "projects"},
        "name": "web",
        "operation": "CREATE",
        "userInfo": {"username": "alice", "groups": ["acme-admins"]},
        "object": {"apiVersion": "paas.kubeop.io/v1alpha1", "kind": "Project", "metadata": {"name": "web"}},
    }
    body.update(request)
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": body}


def encode(value: Any) -> bytes:
    return json.dumps(value).encode()


def without(key: str) -> dict[str, Any]:
    body = review()
    del body["request"][key]
    return body


BAD_REQUESTS: list[tuple[str, bytes, str]] = [
    ("malformed_json", b'{"apiVersion": ', "not valid JSON"),
    ("not_an_object", b"[1, 2]", "JSON object"),
    ("unknown_api_version", encode({**review(), "apiVersion": "admission.k8s.io/v1beta1"}), "apiVersion"),
    ("wrong_kind", encode({**review(), "kind": "TokenReview"}), "kind 'TokenReview'"),
    ("missing_request", encode({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}), "request"),
    ("missing_uid", encode(without("uid")), "request.uid is required"),
    ("empty_uid", encode(review(uid="")), "request.uid"),
    ("missing_kind", encode(without("kind")), "request.kind is required"),
    ("unknown_operation", encode(review(operation="PATCH")), "request.operation"),
    ("object_not_a_mapping", encode(review(object="text")), "request.object"),
    ("create_without_object", encode(review(object=None)), "request.object is required for CREATE"),
    ("not_utf8", b"\xff\xfe{", "not valid JSON"),
    ("metadata_not_an_object", encode(review(object={"metadata": "web"})), "request.object.metadata must be an object"),
    (
        "old_labels_not_a_map",
        encode(review(oldObject={"metadata": {"labels": [1]}})),
        "request.oldObject.metadata.labels",
    ),
    ("namespace_not_a_string", encode(review(object={"metadata": {"namespace": {}}})), "metadata.namespace must be a"),
    (
        "finalizers_not_a_list",
        encode(review(object={"metadata": {"finalizers": "x"}})),
        "metadata.finalizers must be an",
    ),
]


@pytest.mark.parametrize(("body", "reason"), [c[1:] for c in BAD_REQUESTS], ids=[c[0] for c in BAD_REQUESTS])
def test_malformed_review_is_a_bad_request_with_a_reason(body: bytes, reason: str) -> None:
    with pytest.raises(BadReview, match=reason):
        parse_review(body)


def nested(levels: int) -> Any:
    value: Any = 0
    for _ in range(levels):
        value = [value]
    return value


@pytest.mark.parametrize("brackets_elsewhere", [0, 500], ids=["shallow_body", "many_brackets"])
def test_object_at_the_depth_limit_is_parsed_and_one_deeper_is_refused(brackets_elsewhere: int) -> None:
    padding = {f"k{index}": [] for index in range(brackets_elsewhere)}
    obj = {"metadata": {"name": "web"}, "spec": nested(MAX_OBJECT_DEPTH - 1), "status": padding}
    assert json_depth(obj) == MAX_OBJECT_DEPTH
    assert parse_review(encode(review(object=obj))).request.object == obj
    obj["spec"] = nested(MAX_OBJECT_DEPTH)
    with pytest.raises(BadReview, match=f"deeper than {MAX_OBJECT_DEPTH} levels"):
        parse_review(encode(review(object=obj)))


@pytest.mark.parametrize("levels", [199, 250, 990, 50_000])
def test_deep_nesting_is_refused_with_the_limit_not_a_parser_error(levels: int) -> None:
    body = encode(review(object={"spec": "X"})).replace(b'"X"', b"[" * levels + b"]" * levels)
    with pytest.raises(BadReview, match=f"deeper than {MAX_OBJECT_DEPTH} levels"):
        parse_review(body)


@pytest.mark.parametrize(
    ("value", "depth"),
    [(1, 0), ({}, 1), ([[], {"a": [1]}], 3), ({"a": {"b": {"c": []}}, "d": 1}, 4), (nested(5000), 5000)],
)
def test_json_depth_counts_objects_and_arrays_without_recursion(value: Any, depth: int) -> None:
    assert json_depth(value) == depth


@pytest.mark.parametrize("metadata", ["web", ["web"], 7, {"name": 7}, None])
def test_display_name_never_raises_for_a_generated_name(metadata: Any) -> None:
    body = review(name="", namespace="ns", object={"metadata": {"name": "x"}})
    request = parse_review(encode(body)).request.model_copy(update={"object": {"metadata": metadata}})
    assert request.display_name == "ns/<generated>"


def test_unknown_api_version_is_reported_before_field_errors() -> None:
    body = {"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview", "request": {"uid": "x"}}
    with pytest.raises(BadReview, match=re.escape("apiVersion 'admission.k8s.io/v1beta1' is not supported")):
        parse_review(encode(body))


def test_valid_review_keeps_raw_object_and_unknown_fields() -> None:
    obj = {"apiVersion": "x/v1", "kind": "Y", "metadata": {"name": "a"}, "spec": {"fieldNoModelKnows": [1]}}
    parsed = parse_review(encode(review(object=obj, dryRun=True, futureTopLevel=1)))
    request = parsed.request
    assert request.object == obj
    assert request.dry_run is True
    assert request.user_info.groups == ("acme-admins",)
    assert request.display_name == "web"


def test_delete_subject_is_the_old_object() -> None:
    old = {"metadata": {"name": "web"}, "spec": {"tenantRef": "acme"}}
    request = parse_review(encode(review(operation="DELETE", object=None, oldObject=old))).request
    assert request.subject == old


def test_update_subject_is_the_new_object() -> None:
    new = {"metadata": {"name": "web"}, "spec": {"tenantRef": "new"}}
    request = parse_review(encode(review(operation="UPDATE", object=new, oldObject={"a": 1}))).request
    assert request.subject == new


def test_response_echoes_uid_and_api_version() -> None:
    rendered = render_response("uid-1", allowed())
    assert rendered == {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": {"uid": "uid-1", "allowed": True},
    }


def test_denial_carries_403_forbidden_and_message() -> None:
    response = render_response("u", denied('spec.x "y" is not allowed; allowed: z'))["response"]
    assert response["allowed"] is False
    message = 'spec.x "y" is not allowed; allowed: z'
    assert response["status"] == {"code": 403, "reason": "Forbidden", "message": message}
    assert "patch" not in response


def test_errored_verdict_is_a_denial_with_code_500() -> None:
    response = render_response("u", errored("could not evaluate"))["response"]
    assert response["allowed"] is False
    assert response["status"]["code"] == 500


def test_patch_is_base64_json_patch() -> None:
    ops = [{"op": "add", "path": "/metadata/labels", "value": {"a": "b"}}]
    response = render_response("u", patched(ops))["response"]
    assert response["patchType"] == "JSONPatch"
    assert json.loads(base64.b64decode(response["patch"])) == ops
    assert decode_patch(response) == ops


def test_empty_patch_is_omitted() -> None:
    response = render_response("u", patched([]))["response"]
    assert "patch" not in response
    assert "patchType" not in response


def test_denial_never_carries_a_patch() -> None:
    verdict = Verdict(allowed=False, code=403, reason="Forbidden", message="no", patch=({"op": "add"},))
    assert "patch" not in render_response("u", verdict)["response"]


def test_warnings_are_rendered_when_present() -> None:
    response = render_response("u", allowed().with_warnings("one fact", "another fact"))["response"]
    assert response["warnings"] == ["one fact", "another fact"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("short", "short"),
        ("x" * MAX_WARNING_CHARS, "x" * MAX_WARNING_CHARS),
        ("x" * (MAX_WARNING_CHARS + 1), "x" * (MAX_WARNING_CHARS - 1) + ELLIPSIS),
        ("line one\nline two\ttab", "line one line two tab"),
        ("nul\x00bell\x07esc\x1b[31mred del\x7f c1\x85\x9f", "nul bell esc [31mred del c1"),
        ("lone \ud800 surrogate", "lone \ufffd surrogate"),
        ("\x00\x01\x02", ""),
    ],
    ids=["short", "exactly_limit", "one_over_limit", "whitespace", "control_characters", "surrogate", "only_controls"],
)
def test_warnings_are_clipped_to_120_characters_with_an_ellipsis(text: str, expected: str) -> None:
    assert clip_warning(text) == expected
    assert len(clip_warning(text)) <= MAX_WARNING_CHARS


def test_no_warning_carries_a_control_character() -> None:
    verdict = allowed().with_warnings("".join(chr(code) for code in range(0x00, 0xA0)) + "end")
    for warning in render_response("u", verdict)["response"]["warnings"]:
        assert not any(unicodedata.category(ch) == "Cc" for ch in warning)
        warning.encode("utf-8")


def test_long_warning_is_truncated_not_dropped() -> None:
    verdict = allowed().with_warnings("w" * 500)
    assert len(verdict.warnings) == 1
    assert verdict.warnings[0].endswith(ELLIPSIS)
    assert len(verdict.warnings[0]) == MAX_WARNING_CHARS


def test_denial_requires_a_message() -> None:
    with pytest.raises(ValueError, match="message"):
        denied("")


def test_rendering_clips_warnings_of_hand_built_verdicts() -> None:
    verdict = Verdict(allowed=True, warnings=("y" * 300,))
    (warning,) = render_response("u", verdict)["response"]["warnings"]
    assert len(warning) == MAX_WARNING_CHARS
    assert warning.endswith(ELLIPSIS)
