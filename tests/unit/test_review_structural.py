"""Offline review refuses what the API server refuses: every broken fixture, with the refusal its file expects.

The same files and fragments are checked against a real API server in tests/e2e/test_review_consistency_e2e.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from admission.review import implied_namespaces, parse_documents, review_documents
from admission.rules import build_registries
from admission.view import InMemoryClusterView

pytestmark = pytest.mark.unit

MANIFESTS = Path(__file__).resolve().parents[1] / "fixtures" / "manifests"
EXPECT = re.compile(r"^# expect: (.+)$", re.MULTILINE)
CASES = [
    (path, chunk)
    for folder in ("broken", "samples")
    for path in sorted((MANIFESTS / folder).glob("*.yaml"))
    if "# update:" not in path.read_text()
    for chunk in re.split(r"^---\s*$", path.read_text(), flags=re.MULTILINE)
]


@pytest.mark.parametrize(
    ("path", "chunk"), CASES, ids=[f"{p.parent.name}/{p.name}#{i}" for i, (p, _) in enumerate(CASES)]
)
def test_offline_review_gives_the_expected_verdict(path: Path, chunk: str) -> None:
    found = EXPECT.search(chunk)
    assert found, f"{path.name}: every document states its expected verdict"
    expected = found.group(1)
    whole = parse_documents(path.read_text(), path.name)
    documents = parse_documents(chunk, path.name)
    given = [document.body for document in whole]
    view = InMemoryClusterView.from_objects([*given, *implied_namespaces(given)])
    (result,) = review_documents(
        documents, view, build_registries(), operation="CREATE", user="root", groups=["system:masters"]
    )
    if expected == "admitted":
        assert result.verdict.allowed, result.verdict.message
    else:
        assert not result.verdict.allowed
        assert expected in result.verdict.message


def test_a_null_spec_is_refused_before_any_webhook_as_the_api_server_does() -> None:
    text = "apiVersion: apps.shophub.local/v1\nkind: Shop\nmetadata: {name: s}\nspec:\n"
    documents = parse_documents(text, "shop.yaml")
    (result,) = review_documents(
        documents,
        InMemoryClusterView.from_objects([]),
        build_registries(),
        operation="CREATE",
        user="root",
        groups=["system:masters"],
    )
    assert result.verdict.code == 422
    assert result.verdict.message.startswith('The Shop "s" is invalid:')
    assert "* spec: Required value" in result.verdict.message
