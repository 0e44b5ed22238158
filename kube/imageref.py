"""Container image references, parsed the way the container runtime will resolve them.

A registry allowlist is only as good as its parsing: kubeOP took the text before the first `/` as the
registry, so `library/nginx` came from a registry called `library` and `nginx` from `docker.io` only by
accident of the no-slash branch. The rules here follow the distribution reference grammar:

- `name[:tag][@digest]`; the name is `[registry/]path`, path components lowercase
  (`[a-z0-9]+` joined by `.`, `_`, `__` or runs of `-`);
- the first component is a registry if and only if it contains `.` or `:` or is `localhost`
  (`localhost:5000/x`, `registry.example:443/x`, `ghcr.io/acme/app`); otherwise the registry is `docker.io`;
- a single-component name on `docker.io` lives under `library/` (`nginx` = `docker.io/library/nginx`);
- `index.docker.io` and `registry-1.docker.io` are `docker.io`;
- a tag is `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`; a digest is `algorithm:hex` (sha256 needs 64 hex digits);
- an uppercase letter in the repository makes the reference invalid (the runtime would refuse to pull it).

`parse_image` is pure and allocation-light; results are cached because a cluster runs few distinct images.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

DOCKER_HUB: Final = "docker.io"
_HUB_ALIASES: Final = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
MAX_NAME_LENGTH: Final = 255

_COMPONENT: Final = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_DOMAIN: Final = re.compile(
    r"^(?:\[[0-9A-Fa-f:.]+\]|(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*)"
    r"(?::[0-9]+)?$"
)
_TAG: Final = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST: Final = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-fA-F]{32,}$")


class ImageReferenceError(ValueError):
    """The text is not a valid image reference; the message says which part and why."""


@dataclass(frozen=True, slots=True)
class ImageReference:
    """A parsed reference. `registry` is lowercase and normalised; `repository` excludes the registry."""

    registry: str
    repository: str
    tag: str | None
    digest: str | None

    @property
    def name(self) -> str:
        """`registry/repository`, what registry allowlists are matched against."""
        return f"{self.registry}/{self.repository}"

    @property
    def pinned(self) -> bool:
        """True when the reference names a fixed image: a digest, or a tag other than `latest`."""
        return self.digest is not None or (self.tag is not None and self.tag != "latest")

    def normalized(self) -> str:
        """`registry/repository:tag[@digest]`, with `:latest` when neither tag nor digest is given."""
        text = self.name
        if self.tag is not None:
            text += f":{self.tag}"
        elif self.digest is None:
            text += ":latest"
        if self.digest is not None:
            text += f"@{self.digest}"
        return text


def normalize_registry(registry: str) -> str:
    """Lowercase, and Docker Hub's aliases folded into `docker.io`."""
    lowered = registry.lower()
    return DOCKER_HUB if lowered in _HUB_ALIASES else lowered


def _is_registry(component: str) -> bool:
    return "." in component or ":" in component or component == "localhost"


@lru_cache(maxsize=4096)
def parse_image(text: str) -> ImageReference:
    """Parse `text`; raise `ImageReferenceError` with the reason when it is not a valid reference."""
    if not text or text != text.strip():
        raise ImageReferenceError("an image reference must be non-empty and have no surrounding spaces")
    rest = text
    digest: str | None = None
    if "@" in rest:
        rest, _, digest = rest.partition("@")
        if not _DIGEST.match(digest):
            raise ImageReferenceError(f"digest {digest!r} is not algorithm:hex (such as sha256:<64 hex digits>)")
        algorithm, _, hex_digits = digest.partition(":")
        if algorithm == "sha256" and len(hex_digits) != 64:
            raise ImageReferenceError("a sha256 digest has exactly 64 hexadecimal digits")
    tag: str | None = None
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > slash:  # a colon after the last slash starts the tag; before it, it is a registry port
        rest, tag = rest[:colon], rest[colon + 1 :]
        if not _TAG.match(tag):
            raise ImageReferenceError(f"tag {tag!r} must be 1-128 of A-Z a-z 0-9 _ . - and not start with . or -")
    if not rest:
        raise ImageReferenceError("the repository name is missing")
    if len(rest) > MAX_NAME_LENGTH:
        raise ImageReferenceError(f"the name is longer than {MAX_NAME_LENGTH} characters")
    first, sep, remainder = rest.partition("/")
    if sep and _is_registry(first):
        if not _DOMAIN.match(first):
            raise ImageReferenceError(f"registry {first!r} is not a valid host[:port]")
        registry, path = normalize_registry(first), remainder
    else:
        registry, path = DOCKER_HUB, rest
    components = path.split("/")
    for component in components:
        if not _COMPONENT.match(component):
            if component.lower() != component and _COMPONENT.match(component.lower()):
                raise ImageReferenceError(f"repository {path!r} must be lowercase")
            raise ImageReferenceError(
                f"repository component {component!r} must be lowercase letters and digits separated by . _ __ or -"
            )
    if registry == DOCKER_HUB and len(components) == 1:
        path = f"library/{path}"
    return ImageReference(registry, path, tag, digest)


def normalize_registry_entry(entry: str) -> str:
    """An allowlist entry (`ghcr.io`, `GHCR.io/Acme/`, `https://registry.example`, `nginx`) in matching form.

    Entries name a registry or a repository prefix; a scheme and trailing slashes are ignored, the registry
    part is normalised like a reference's, and the whole entry compares case-insensitively. An entry whose first
    component is not a registry is on Docker Hub, as in a reference: `library/nginx` is
    `docker.io/library/nginx`, and `nginx` is `docker.io/nginx`, which `matches_entry` also reads as the image
    `nginx`.
    """
    text = entry.strip().lower()
    for scheme in ("https://", "http://"):
        if text.startswith(scheme):
            text = text[len(scheme) :]
    text = text.strip("/")
    host, sep, path = text.partition("/")
    if text and not _is_registry(host):
        return f"{DOCKER_HUB}/{text}"
    host = normalize_registry(host)
    return f"{host}/{path}" if sep and path else host


def matches_entry(reference: ImageReference, entry: str) -> bool:
    """True when the reference's `registry/repository` equals the (normalised) entry or continues it after `/`.

    `ghcr.io` allows `ghcr.io/x/y`; `ghcr.io/acme` allows `ghcr.io/acme/app` but not `ghcr.io/acmeevil/app`.
    An entry naming one Docker Hub component (`docker.io/nginx`) also equals the image it names as a reference,
    `docker.io/library/nginx`, so every way of writing an allowed image is allowed.
    """
    name = reference.name
    if name == entry or name.startswith(entry + "/"):
        return True
    registry, _, path = entry.partition("/")
    return registry == DOCKER_HUB and bool(path) and "/" not in path and name == f"{DOCKER_HUB}/library/{path}"
