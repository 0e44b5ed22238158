"""Image references parse the way the runtime resolves them (registry, repository, tag, digest)."""

from __future__ import annotations

import pytest

from kube.imageref import (
    ImageReferenceError,
    matches_entry,
    normalize_registry_entry,
    parse_image,
)

pytestmark = pytest.mark.unit

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest"),
    [
        ("nginx", "docker.io", "library/nginx", None, None),
        ("nginx:1.25", "docker.io", "library/nginx", "1.25", None),
        ("library/nginx", "docker.io", "library/nginx", None, None),
        ("docker.io/library/nginx:1.25", "docker.io", "library/nginx", "1.25", None),
        ("index.docker.io/library/nginx", "docker.io", "library/nginx", None, None),
        ("evil/x:1", "docker.io", "evil/x", "1", None),
        ("ghcr.io/acme/app:1.4", "ghcr.io", "acme/app", "1.4", None),
        ("GHCR.io/acme/app", "ghcr.io", "acme/app", None, None),
        ("localhost/app", "localhost", "app", None, None),
        ("localhost:5000/x", "localhost:5000", "x", None, None),
        ("registry.example:443/x", "registry.example:443", "x", None, None),
        ("registry.example:443/team/x:2", "registry.example:443", "team/x", "2", None),
        (f"ghcr.io/acme/app@{DIGEST}", "ghcr.io", "acme/app", None, DIGEST),
        (f"ghcr.io/acme/app:1.4@{DIGEST}", "ghcr.io", "acme/app", "1.4", DIGEST),
        ("a/b/c/d:v1_2.3-rc", "docker.io", "a/b/c/d", "v1_2.3-rc", None),
        ("my-org/my__app", "docker.io", "my-org/my__app", None, None),
        ("[::1]:5000/x", "[::1]:5000", "x", None, None),
    ],
)
def test_parses_references(text: str, registry: str, repository: str, tag: str | None, digest: str | None) -> None:
    reference = parse_image(text)
    assert (reference.registry, reference.repository, reference.tag, reference.digest) == (
        registry,
        repository,
        tag,
        digest,
    )


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Nginx", "lowercase"),
        ("MyRegistry/app", "lowercase"),
        ("ghcr.io/Acme/app", "lowercase"),
        ("ghcr.io/acme/app:", "tag"),
        ("ghcr.io/acme/app:-bad", "tag"),
        ("ghcr.io/acme/app@sha256:abc", "digest"),
        ("ghcr.io/acme/app@sha256:" + "a" * 63, "64"),
        ("ghcr.io//app", "component"),
        ("", "non-empty"),
        (" nginx", "non-empty"),
        ("bad_host.example:x/app", "registry"),
    ],
)
def test_rejects_invalid_references(text: str, reason: str) -> None:
    with pytest.raises(ImageReferenceError, match=reason):
        parse_image(text)


@pytest.mark.parametrize(
    ("text", "pinned", "normalized"),
    [
        ("nginx", False, "docker.io/library/nginx:latest"),
        ("nginx:latest", False, "docker.io/library/nginx:latest"),
        ("nginx:1.25", True, "docker.io/library/nginx:1.25"),
        (f"nginx@{DIGEST}", True, f"docker.io/library/nginx@{DIGEST}"),
    ],
)
def test_pinned_and_normalized_forms(text: str, pinned: bool, normalized: str) -> None:
    reference = parse_image(text)
    assert reference.pinned is pinned
    assert reference.normalized() == normalized


@pytest.mark.parametrize(
    ("image", "entry", "matches"),
    [
        ("nginx", "docker.io", True),
        ("nginx", "index.docker.io", True),
        ("ghcr.io/acme/app", "ghcr.io", True),
        ("ghcr.io/acme/app", "GHCR.IO/Acme/", True),
        ("ghcr.io/acme/app", "ghcr.io/acme", True),
        ("ghcr.io/acmeevil/app", "ghcr.io/acme", False),
        ("ghcr.io/acme/app", "ghcr.io/acme/app", True),
        ("evil.io/ghcr.io/x", "ghcr.io", False),
        ("registry.example:443/x", "registry.example", False),
        ("registry.example:443/x", "https://registry.example:443", True),
        ("library/nginx", "docker.io/library", True),
        ("nginx", "nginx", True),
        ("nginx", "docker.io/nginx", True),
        ("nginx", "library/nginx", True),
        ("docker.io/nginx/unit", "docker.io/nginx", True),
        ("docker.io/library/nginx/x", "docker.io/nginx", False),
        ("acme/app", "acme", True),
        ("localhost/app", "localhost", True),
        ("localhost:5000/app", "localhost:5000", True),
    ],
)
def test_allowlist_entries_match_registry_or_repository_prefix(image: str, entry: str, matches: bool) -> None:
    assert matches_entry(parse_image(image), normalize_registry_entry(entry)) is matches
