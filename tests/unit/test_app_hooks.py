"""App hooks: kubeOP's buildHookJob shape and the pure state machine that gates and follows a revision."""

from __future__ import annotations

from typing import Any

import pytest

from controller.reconcilers import app_hooks as h

pytestmark = pytest.mark.unit

P, R, S, F = h.PENDING, h.RUNNING, h.SUCCEEDED, h.FAILED


def make_app(**hooks: Any) -> dict[str, Any]:
    return {
        "apiVersion": "paas.kubeop.io/v1alpha1",
        "kind": "App",
        "metadata": {"name": "web", "namespace": "kubeop-acme-web", "uid": "u1"},
        "spec": {"type": "Image", "image": "nginx:1.25", "hooks": hooks},
    }


def test_hook_job_matches_kubeops_build_hook_job() -> None:
    app = make_app(pre=[{"image": "alpine:3.20", "args": ["/bin/true"]}])
    [job] = h.hook_jobs(app, "abcd1234", "pre")
    assert job["metadata"]["name"] == "hook-pre-web-abcd1234"
    assert job["metadata"]["namespace"] == "kubeop-acme-web"
    labels = {"app.kubeop.io/app": "web", "app.kubeop.io/revision": "abcd1234", "app.kubeop.io/phase": "pre"}
    assert job["metadata"]["labels"] == labels
    assert job["spec"]["backoffLimit"] == 0
    assert job["spec"]["ttlSecondsAfterFinished"] == 60
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["containers"] == [{"name": "hook", "image": "alpine:3.20", "args": ["/bin/true"]}]


def test_several_hooks_get_an_index_and_the_revision_is_cut_to_eight() -> None:
    app = make_app(post=[{"image": "alpine:3.20"}, {"image": "busybox:1.36", "args": ["echo", "hi"]}, {"args": []}])
    names = [j["metadata"]["name"] for j in h.hook_jobs(app, "0123456789ab", "post")]
    assert names == ["hook-post-web-01234567-0", "hook-post-web-01234567-1"]
    assert h.hook_jobs(app, "0123456789ab", "pre") == []


def job(*conditions: str) -> dict[str, Any]:
    return {"status": {"conditions": [{"type": c, "status": "True"} for c in conditions]}}


@pytest.mark.parametrize(
    ("live", "recorded", "expected"),
    [
        (None, None, P),
        (job(), None, R),
        (job("SuccessCriteriaMet", "Complete"), None, S),
        (job("FailureTarget", "Failed"), None, F),
        (None, S, S),  # the Job was cleaned up by its TTL: the recorded outcome stands
        (None, F, F),
        (None, R, P),  # a Running record without its Job: run it again
        (job(), S, R),  # the Job in the cache wins
    ],
)
def test_observed_phase(live: dict[str, Any] | None, recorded: str | None, expected: str) -> None:
    assert h.observed_phase(live, recorded) == expected


def test_recorded_phases_belong_to_one_revision() -> None:
    status = {"hooks": {"revision": "r1", "pre": [S, S], "post": [F]}}
    assert h.recorded_phases(status, "r1", "pre") == [S, S]
    assert h.recorded_phases(status, "r1", "post") == [F]
    assert h.recorded_phases(status, "r2", "pre") == []
    assert h.recorded_phases(None, "r1", "pre") == []


@pytest.mark.parametrize(
    ("served", "pre", "post", "ready", "expected"),
    [
        # no hooks: apply, report the children
        ("old", [], [], False, (True, None, None, "")),
        ("new", [], [], True, (True, None, None, "")),
        # revision changed: pre-hooks one at a time, nothing applied meanwhile
        ("old", [P, P], [], False, (False, ("pre", 0), False, "PreHooksRunning")),
        ("old", [R, P], [], False, (False, None, False, "PreHooksRunning")),
        ("old", [S, P], [], False, (False, ("pre", 1), False, "PreHooksRunning")),
        ("", [P], [], False, (False, ("pre", 0), False, "PreHooksRunning")),  # first creation is gated too
        ("old", [S, F], [], False, (False, None, False, "PreHookFailed")),
        # pre-hooks done, or the revision is already served: apply
        ("old", [S, S], [P], False, (True, None, None, "")),
        ("new", [P], [], False, (True, None, None, "")),
        # ready: post-hooks run, Ready only when all succeeded
        ("new", [S], [P], True, (True, ("post", 0), False, "PostHooksRunning")),
        ("new", [S], [R], True, (True, None, False, "PostHooksRunning")),
        ("new", [S], [S, P], True, (True, ("post", 1), False, "PostHooksRunning")),
        ("new", [S], [S, F], True, (True, None, False, "PostHookFailed")),
        ("new", [S], [S], True, (True, None, None, "")),
    ],
)
def test_decide_hooks(
    served: str, pre: list[str], post: list[str], ready: bool, expected: tuple[bool, Any, Any, str]
) -> None:
    decision = h.decide_hooks("new", served, pre, post, ready)
    assert (decision.apply, decision.create, decision.ready, decision.reason) == expected


def test_failed_pre_hook_says_the_old_revision_keeps_running() -> None:
    decision = h.decide_hooks("new", "old", [F], [], False)
    assert "pre-hook 0 of revision new failed" in decision.message
    assert "revision old keeps running" in decision.message


def test_hooks_status_is_recorded_only_with_hooks() -> None:
    assert h.hooks_status("r", [], []) is None
    assert h.hooks_status("r", [S], [P]) == {"revision": "r", "pre": [S], "post": [P]}


@pytest.mark.parametrize("app_name", ["web", "a" * 40, "very-long-application-name-that-goes-on-and-on-and-on"])
def test_hook_job_names_are_valid_label_values(app_name: str) -> None:
    for count in (1, 3):
        name = h.hook_job_name(app_name, "pre", "0123456789abcdef", 2, count)
        assert len(name) <= 63
        assert name.startswith("hook-pre-")
        assert name.endswith("01234567-2" if count > 1 else "01234567")


def test_long_app_names_with_a_common_prefix_get_distinct_hook_jobs() -> None:
    first = h.hook_job_name("x" * 60 + "-one", "post", "abcdef0123", 0, 1)
    second = h.hook_job_name("x" * 60 + "-two", "post", "abcdef0123", 0, 1)
    assert first != second
