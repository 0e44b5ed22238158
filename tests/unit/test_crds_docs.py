"""docs/api.md is generated from the models and committed fresh."""

from __future__ import annotations

import pytest

from crds import docs, registry
from crds.common import KindInfo

pytestmark = pytest.mark.unit


def test_committed_api_reference_is_fresh() -> None:
    """Fails when docs/api.md differs from a fresh rendering: run `python -m crds.docs`."""
    assert docs.DOC_PATH.read_text(encoding="utf-8") == docs.render()


@pytest.mark.parametrize("info", registry.KINDS, ids=[info.crd_name for info in registry.KINDS])
def test_reference_documents_every_kind_and_what_it_builds(info: KindInfo) -> None:
    text = docs.render()
    assert f"## {info.kind} — `{info.api_version}`" in text
    assert info.builds.splitlines()[0] in text


def test_reference_lists_defaults() -> None:
    text = docs.render()
    assert '| `spec.availability` | `standard` \\| `high` | yes | `"standard"` |' in text
    assert '| `spec.appStaticPath` | string |  | `"/app/static"` |' in text
