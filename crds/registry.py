"""The kind registry: every served kind, looked up by (group, kind) or by (group, version, plural).

Admission requests name a kind (`request.kind`) and a resource (`request.resource`); watches name resources.
Both resolve here to the same `KindInfo`, so the webhook, the controller and the generator cannot disagree
about what is served.
"""

from __future__ import annotations

from crds import django_blindage, django_thismatters, kubeop, shophub_apps, shophub_notify, shophub_payments
from crds.common import KindInfo

KINDS: tuple[KindInfo, ...] = (
    *shophub_apps.KINDS,
    *shophub_notify.KINDS,
    *shophub_payments.KINDS,
    *kubeop.KINDS,
    *django_thismatters.KINDS,
    *django_blindage.KINDS,
)
"""Every served kind, in a stable order (by API group module, then as declared)."""

_BY_KIND: dict[tuple[str, str], KindInfo] = {(info.group, info.kind): info for info in KINDS}
_BY_RESOURCE: dict[tuple[str, str, str], KindInfo] = {(info.group, info.version, info.plural): info for info in KINDS}
_BY_API_VERSION: dict[tuple[str, str], KindInfo] = {(info.api_version, info.kind): info for info in KINDS}

if len(_BY_KIND) != len(KINDS) or len(_BY_RESOURCE) != len(KINDS):
    raise RuntimeError("two kinds share a (group, kind) or a (group, version, plural)")


def by_kind(group: str, kind: str) -> KindInfo | None:
    """The kind `kind` of API group `group`, if served."""
    return _BY_KIND.get((group, kind))


def by_resource(group: str, version: str, plural: str) -> KindInfo | None:
    """The kind served as resource `plural` in `group/version`, if any."""
    return _BY_RESOURCE.get((group, version, plural))


def by_api_version(api_version: str, kind: str) -> KindInfo | None:
    """The kind named by an object's `apiVersion` and `kind`, if served at that version."""
    return _BY_API_VERSION.get((api_version, kind))


def groups() -> tuple[str, ...]:
    """The served API groups, sorted."""
    return tuple(sorted({info.group for info in KINDS}))


class UnknownKindError(LookupError):
    """The object's group/kind (or apiVersion/kind) is not served by this platform."""


def require(group: str, kind: str) -> KindInfo:
    """Like `by_kind`, but raise UnknownKindError for a kind that is not served."""
    info = by_kind(group, kind)
    if info is None:
        raise UnknownKindError(f"{kind}.{group} is not a kind served by tenantgate")
    return info
