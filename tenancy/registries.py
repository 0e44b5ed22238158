"""A Registry's `spec.passwordRef`, read one way by admission and by the controller.

`[<namespace>/]<name>[#<key>]`: the Secret `<name>` in `<namespace>`, key `<key>` (default `password`). A
Registry is cluster-scoped, so a bare name has no namespace of its own; tenantgate never fills one in: a
tenant's Registry must name one of the tenant's namespaces, and the controller reads nothing else. Admission
denies what the controller would refuse, so both parse the reference with `parse_password_ref`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

DEFAULT_PASSWORD_KEY: Final = "password"


@dataclass(frozen=True, slots=True)
class PasswordRef:
    namespace: str | None
    """None for a bare name: no namespace was written."""
    name: str
    key: str


def parse_password_ref(ref: str) -> PasswordRef:
    """`[<namespace>/]<name>[#<key>]` -> `PasswordRef` (the namespace is everything before the last `/`)."""
    ref, _, key = ref.strip().partition("#")
    namespace, _, name = ref.rpartition("/")
    return PasswordRef(namespace or None, name, key or DEFAULT_PASSWORD_KEY)
