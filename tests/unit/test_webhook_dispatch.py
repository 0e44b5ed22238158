"""Dispatch: handler lookup, how verdicts combine, and how handler failures are contained."""

from __future__ import annotations

import copy
import logging
from typing import Any

import jsonpatch
import pytest

from admission import dispatch
from admission.patch import PatchRecorder
from admission.protocol import AdmissionRequest, Operation
from admission.registry import HandlerRegistry, Registries
from admission.rules.text import list_at
from admission.verdict import Verdict, allowed, denied, patched
from admission.view import ClusterView, InMemoryClusterView

pytestmark = pytest.mark.unit

VIEW = InMemoryClusterView.from_objects([])
GROUP, KIND = "probe.tenantgate.test", "Probe"


def request(operation: Operation = "CREATE", obj: dict[str, Any] | None = None, **extra: Any) -> AdmissionRequest:
    body = {"metadata": {"name": "p", "namespace": "ns"}, "spec": {}} if obj is None else obj
    data: dict[str, Any] = {
        "uid": "uid-42",
        "kind": {"group": GROUP, "version": "v1", "kind": KIND},
        "resource": {"group": GROUP, "version": "v1", "resource": "probes"},
        "name": "p",
        "namespace": "ns",
        "operation": operation,
        "object": None if operation == "DELETE" else body,
        "oldObject": body if operation in ("UPDATE", "DELETE") else None,
    }
    data.update(extra)
    return AdmissionRequest.model_validate(data)


def registry_with(
    *handlers: Any, operations: tuple[Operation, ...] = ("CREATE", "UPDATE", "DELETE")
) -> HandlerRegistry:
    registry = HandlerRegistry("test")
    for handler in handlers:
        registry.add(GROUP, KIND, operations, handler)
    return registry


def allow_with(warning: str) -> Any:
    def handler(req: AdmissionRequest, view: ClusterView) -> Verdict:
        return allowed().with_warnings(warning)

    return handler


def deny_with(message: str) -> Any:
    def handler(req: AdmissionRequest, view: ClusterView) -> Verdict:
        return denied(message).with_warnings(f"warned by {message}")

    return handler


def default(path: tuple[str, ...], value: Any) -> Any:
    def handler(req: AdmissionRequest, view: ClusterView) -> Verdict:
        assert req.object is not None
        recorder = PatchRecorder(req.object)
        recorder.set_default(path, value)
        return patched(recorder.operations())

    return handler


def explode(req: AdmissionRequest, view: ClusterView) -> Verdict:
    raise RuntimeError("boom")


# -- registry ---------------------------------------------------------------------------------------------


def test_handlers_are_found_by_group_kind_and_operation_in_registration_order() -> None:
    registry = HandlerRegistry("r")
    first, second, other = allow_with("1"), allow_with("2"), allow_with("3")
    registry.add(GROUP, KIND, ["CREATE"], first)
    registry.add("*", KIND, ["CREATE", "UPDATE"], second)
    registry.add(GROUP, "Other", ["CREATE"], other)
    assert registry.handlers_for(GROUP, KIND, "CREATE") == (first, second)
    assert registry.handlers_for(GROUP, KIND, "UPDATE") == (second,)
    assert registry.handlers_for(GROUP, KIND, "DELETE") == ()


def test_decorator_registration() -> None:
    registry = HandlerRegistry("r")

    @registry.register(GROUP, KIND, "DELETE")
    def guard(req: AdmissionRequest, view: ClusterView) -> Verdict:
        return allowed()

    assert registry.handlers_for(GROUP, KIND, "DELETE") == (guard,)


@pytest.mark.parametrize("operations", [[], ["PATCH"]])
def test_registration_rejects_unknown_operations(operations: list[Any]) -> None:
    with pytest.raises(ValueError, match="operations"):
        HandlerRegistry("r").add(GROUP, KIND, operations, allow_with("x"))


# -- validation -------------------------------------------------------------------------------------------


def test_no_handler_means_allowed() -> None:
    assert dispatch.validate(request(), VIEW, HandlerRegistry("empty")) == allowed()


def test_first_denial_wins_and_later_handlers_do_not_run() -> None:
    ran: list[str] = []

    def tracking(req: AdmissionRequest, view: ClusterView) -> Verdict:
        ran.append("late")
        return denied("second")

    registry = registry_with(allow_with("early warning"), deny_with("first"), tracking)
    verdict = dispatch.validate(request(), VIEW, registry)
    assert not verdict.allowed
    assert verdict.message == "first"
    assert verdict.warnings == ("early warning", "warned by first")
    assert ran == []


def test_warnings_accumulate_across_allowing_validators() -> None:
    verdict = dispatch.validate(request(), VIEW, registry_with(allow_with("a"), allow_with("b")))
    assert verdict.allowed
    assert verdict.warnings == ("a", "b")


def test_validator_exception_fails_closed_with_uid(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="tenantgate.webhook.dispatch"):
        verdict = dispatch.validate(request(), VIEW, registry_with(allow_with("kept"), explode))
    assert not verdict.allowed
    assert verdict.code == 500
    assert "uid-42" in verdict.message
    assert verdict.warnings == ("kept",)
    record = caplog.records[-1]
    assert "uid=uid-42" in record.getMessage()
    assert "object=ns/p" in record.getMessage()
    assert record.exc_info is not None, "the stack trace must be logged"


def read_rules(req: AdmissionRequest, view: ClusterView) -> Verdict:
    assert req.object is not None
    return allowed(warnings=[f"{len(list_at(req.object['spec'], 'rules', 'spec.rules'))} rules"])


@pytest.mark.parametrize("mode", ["validate", "mutate"])
def test_wrong_typed_field_is_a_422_denial_naming_it_not_an_internal_error(
    mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    malformed = request(obj={"metadata": {"name": "p"}, "spec": {"rules": 7}})
    registry = registry_with(allow_with("kept"), read_rules)
    with caplog.at_level(logging.INFO, logger="tenantgate.webhook.dispatch"):
        if mode == "validate":
            verdict = dispatch.validate(malformed, VIEW, registry)
        else:
            verdict = dispatch.mutate(malformed, VIEW, registry).verdict
    assert not verdict.allowed
    assert (verdict.code, verdict.reason) == (422, "Invalid")
    assert (
        verdict.message == "Probe ns/p is malformed: spec.rules must be an array, not a number, as its schema requires"
    )
    assert verdict.warnings == ("kept",)
    assert all(record.exc_info is None and record.levelno < logging.WARNING for record in caplog.records)
    well_formed = request(obj={"metadata": {"name": "p"}, "spec": {"rules": [1, 2]}})
    assert dispatch.validate(well_formed, VIEW, registry).warnings == ("kept", "2 rules")


def test_unknown_kinds_are_not_cached() -> None:
    registry = registry_with(allow_with("a"))
    registry.handlers_for(GROUP, KIND, "CREATE")
    for index in range(1000):
        assert registry.handlers_for(GROUP, f"Unknown{index}", "CREATE") == ()
    assert len(registry._cache) == 1
    assert registry.judges(GROUP, KIND)
    assert not registry.judges(GROUP, "Unknown0")


def test_validation_of_delete_judges_the_old_object() -> None:
    seen: list[dict[str, Any]] = []

    def capture(req: AdmissionRequest, view: ClusterView) -> Verdict:
        seen.append(req.subject)
        return allowed()

    old = {"metadata": {"name": "p"}, "spec": {"marker": "old"}}
    dispatch.validate(request("DELETE", old), VIEW, registry_with(capture))
    assert seen == [old]


def test_dry_run_gets_the_same_verdict() -> None:
    registry = registry_with(deny_with("no"))
    assert dispatch.validate(request(dryRun=True), VIEW, registry) == dispatch.validate(request(), VIEW, registry)


# -- mutation ---------------------------------------------------------------------------------------------


def test_patches_from_several_defaulters_concatenate_and_apply_cleanly() -> None:
    obj = {"metadata": {"name": "p"}, "spec": {"keep": {"unknown": True}}}
    registry = registry_with(default(("spec", "a"), 1), default(("metadata", "labels", "x"), "y"))
    result = dispatch.mutate(request(obj=obj), VIEW, registry)
    assert result.verdict.allowed
    expected = {"metadata": {"name": "p", "labels": {"x": "y"}}, "spec": {"keep": {"unknown": True}, "a": 1}}
    assert jsonpatch.apply_patch(obj, list(result.verdict.patch)) == expected
    assert result.patched_object == expected


def recorder_default(path: tuple[str, ...], value: Any) -> Any:
    """Like `default`, but hands the recorder itself to `patched` (the verdict carries the result)."""

    def handler(req: AdmissionRequest, view: ClusterView) -> Verdict:
        assert req.object is not None
        recorder = PatchRecorder(req.object)
        recorder.set_default(path, value)
        return patched(recorder)

    return handler


@pytest.mark.parametrize(
    "chain",
    [
        (recorder_default, recorder_default),
        (recorder_default, default),
        (default, recorder_default),
    ],
    ids=["recorders", "recorder_then_operations", "operations_then_recorder"],
)
def test_chained_defaulters_build_one_valid_patch(chain: tuple[Any, Any]) -> None:
    obj: dict[str, Any] = {"metadata": {"name": "p"}, "spec": {"x": 0}}
    first, second = chain
    registry = registry_with(first(("spec", "a"), {"b": 1}), second(("spec", "a", "c"), 2))
    result = dispatch.mutate(request(obj=obj), VIEW, registry)
    expected = {"metadata": {"name": "p"}, "spec": {"x": 0, "a": {"b": 1, "c": 2}}}
    assert jsonpatch.apply_patch(obj, list(result.verdict.patch)) == expected
    assert result.patched_object == expected
    assert obj == {"metadata": {"name": "p"}, "spec": {"x": 0}}


def test_verdict_from_a_recorder_carries_the_patched_object() -> None:
    recorder = PatchRecorder({"spec": {}})
    recorder.set_default(("spec", "a"), 1)
    verdict = patched(recorder)
    assert verdict.patch == ({"op": "add", "path": "/spec/a", "value": 1},)
    assert verdict.patched_object == {"spec": {"a": 1}}
    assert patched(PatchRecorder({"spec": {}})).patched_object is None


def test_later_defaulter_sees_earlier_defaults() -> None:
    """Two defaulters creating the same parent must not clobber each other's values."""
    obj: dict[str, Any] = {"metadata": {"name": "p"}}
    registry = registry_with(default(("spec", "a"), 1), default(("spec", "b"), 2))
    result = dispatch.mutate(request(obj=obj), VIEW, registry)
    expected = {"metadata": {"name": "p"}, "spec": {"a": 1, "b": 2}}
    assert jsonpatch.apply_patch(obj, list(result.verdict.patch)) == expected


def test_mutation_is_idempotent_on_its_own_output() -> None:
    obj: dict[str, Any] = {"metadata": {"name": "p"}}
    registry = registry_with(default(("spec", "a"), 1), default(("metadata", "labels", "x"), "y"))
    first = dispatch.mutate(request(obj=obj), VIEW, registry)
    patched_object = jsonpatch.apply_patch(obj, list(first.verdict.patch))
    second = dispatch.mutate(request(obj=patched_object), VIEW, registry)
    assert second.verdict.patch == ()


def test_mutation_never_modifies_the_request_object() -> None:
    obj: dict[str, Any] = {"metadata": {"name": "p"}}
    pristine = copy.deepcopy(obj)
    dispatch.mutate(request(obj=obj), VIEW, registry_with(default(("spec", "a"), {"b": 1})))
    assert obj == pristine


def test_defaulter_exception_allows_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    obj: dict[str, Any] = {"metadata": {"name": "p"}}
    with caplog.at_level(logging.ERROR, logger="tenantgate.webhook.dispatch"):
        result = dispatch.mutate(request(obj=obj), VIEW, registry_with(explode, default(("spec", "a"), 1)))
    verdict = result.verdict
    assert verdict.allowed
    assert any("explode" in w and "without its defaults" in w for w in verdict.warnings)
    assert jsonpatch.apply_patch(obj, list(verdict.patch)) == {"metadata": {"name": "p"}, "spec": {"a": 1}}
    assert "uid=uid-42" in caplog.records[-1].getMessage()
    assert caplog.records[-1].exc_info is not None


def test_defaulter_with_an_invalid_patch_is_skipped_with_a_warning() -> None:
    def broken(req: AdmissionRequest, view: ClusterView) -> Verdict:
        return patched([{"op": "replace", "path": "/spec/missing", "value": 1}])

    result = dispatch.mutate(request(), VIEW, registry_with(broken))
    assert result.verdict.allowed
    assert result.verdict.patch == ()
    assert any("invalid patch" in w for w in result.verdict.warnings)


def test_mutating_handler_may_deny() -> None:
    result = dispatch.mutate(request(), VIEW, registry_with(default(("spec", "a"), 1), deny_with("no")))
    assert not result.verdict.allowed
    assert result.verdict.patch == ()


def test_review_validates_the_mutated_object() -> None:
    seen: list[Any] = []

    def capture(req: AdmissionRequest, view: ClusterView) -> Verdict:
        seen.append(req.object)
        return allowed().with_warnings("validated")

    registries = Registries(registry_with(default(("spec", "a"), 1)), registry_with(capture))
    outcome = dispatch.review(request(), VIEW, registries)
    assert outcome.allowed
    assert seen[0]["spec"] == {"a": 1}
    assert outcome.final.patch == outcome.mutation.patch
    assert outcome.final.warnings == ("validated",)


def test_review_stops_at_a_mutating_denial() -> None:
    registries = Registries(registry_with(deny_with("stop")), registry_with(allow_with("never")))
    outcome = dispatch.review(request(), VIEW, registries)
    assert outcome.validation is None
    assert not outcome.allowed
