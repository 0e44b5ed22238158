"""Recorded AdmissionReviews for every guardrail, replayed through `dispatch.review` as the server runs it.

Each case is a directory `tests/fixtures/admission/guardrail-<rule>-<allow|deny>/` holding:
- `request.json`: the AdmissionReview the API server sends;
- `view.json` (optional): the cluster as the webhook's view sees it, a list of raw objects; kinds the view does
  not watch (the `kubeop-policy` ConfigMap, Policies) are added to it too;
- `expected.json`: `allowed`, and optionally `code`, the exact `message`, `messageContains` (list), the exact
  `warnings` and the exact JSONPatch `patch` of the combined mutate-then-validate outcome.

The registries are the shipped ones (`build_registries`) with `register_guardrails` applied, which is
idempotent, so the cases hold whether or not `build_registries` already includes the guardrails.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonpatch
import pytest

from admission import dispatch
from admission.protocol import parse_review
from admission.rules import build_registries, register_guardrails
from tenancy.policy import KNOBS, OWN_NAMESPACE_ENV
from tests.unit.test_guardrails_support import view_of

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1] / "fixtures" / "admission"
CASES = sorted(path for path in ROOT.glob("guardrail-*") if path.is_dir())


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def test_every_rule_has_an_allow_and_a_deny_case() -> None:
    names = {case.name for case in CASES}
    assert len(names) >= 30
    for required in (
        "membership",
        "images",
        "hosts",
        "podsecurity",
        "quota",
        "egress",
        "managed",
        "references",
        "namespace-labels",
        "app-namespace",
        "cordon",
        "services",
        "registry-password",
        "cluster-tenant-label",
        "snippets",
    ):
        assert f"guardrail-{required}-deny" in names
        assert f"guardrail-{required}-allow" in names


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_fixture(case: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for knob in (*KNOBS, OWN_NAMESPACE_ENV):
        monkeypatch.delenv(knob, raising=False)
    review = parse_review((case / "request.json").read_bytes())
    objects = _load(case / "view.json") if (case / "view.json").exists() else []
    expected = _load(case / "expected.json")
    registries = build_registries()
    register_guardrails(registries)

    outcome = dispatch.review(review.request, view_of(objects), registries)
    final = outcome.final

    assert final.allowed is expected["allowed"], final.message
    assert case.name.endswith("-allow") is expected["allowed"]
    if "code" in expected:
        assert final.code == expected["code"]
    if "message" in expected:
        assert final.message == expected["message"]
    for text in expected.get("messageContains", []):
        assert text in final.message
    if "warnings" in expected:
        assert list(final.warnings) == expected["warnings"]
    if "patch" in expected:
        assert list(final.patch) == expected["patch"]
        patched = jsonpatch.apply_patch(review.request.object, expected["patch"])
        assert patched == outcome.patched_object

    # The single-call routing answers the same in one call (`/admit`); a refusal carries no patch.
    single = dispatch.admit(review.request, view_of(objects), registries)
    assert (single.allowed, single.code, single.message, single.warnings) == (
        final.allowed,
        final.code,
        final.message,
        final.warnings,
    )
    assert single.patch == (final.patch if final.allowed else ())
