"""The API: pydantic models per group and kind, the single source of truth for the generated CRDs.

Entry points:
- `crds.registry`: every served kind as a `KindInfo`, by (group, kind) or (group, version, plural);
- `crds.parse(raw)` and `crds.validation_errors(raw, old=None)`: typed access and admission-ready errors;
- `crds.defaults.missing_defaults(group, kind, raw)`: the defaults the API server would add, as paths;
- `crds.generator`: the CustomResourceDefinitions (`tenantgate crds`); `crds.docs`: docs/api.md.
"""

from crds.common import KindInfo
from crds.registry import UnknownKindError
from crds.validation import FieldError, InvalidObjectError, kind_of, parse, validation_errors

__all__ = [
    "FieldError",
    "InvalidObjectError",
    "KindInfo",
    "UnknownKindError",
    "kind_of",
    "parse",
    "validation_errors",
]
