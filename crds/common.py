"""Building blocks shared by every API group: the model base, schema hints, common sub-objects, `KindInfo`.

The pydantic models are the single source of truth for the API. Everything a CustomResourceDefinition needs
beyond what pydantic itself expresses (formats, list and map semantics, int-or-string, CEL rules, immutability)
is attached to the models as small, inert hint objects defined here, so that the schema converter
(`crds.schema`), the defaulter (`crds.defaults`) and the validator (`crds.validation`) read one description.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainValidator, Strict, model_validator
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

# ---------------------------------------------------------------------------------------------------------------
# Schema hints: inert markers placed in `Annotated[...]` metadata and read by the schema converter.


@dataclass(frozen=True)
class Format:
    """OpenAPI `format` of a scalar (`int32`, `int64`, `date-time`)."""

    name: str


@dataclass(frozen=True)
class IntOrString:
    """A value that is an integer or a string (`x-kubernetes-int-or-string`), such as a resource quantity."""

    pattern: str | None = None
    """Pattern of the string form."""
    minimum: int | None = None
    """Smallest value of the integer form."""


@dataclass(frozen=True)
class PreserveUnknownFields:
    """A free-form object kept as written (`x-kubernetes-preserve-unknown-fields: true`)."""


@dataclass(frozen=True)
class ListType:
    """`x-kubernetes-list-type` (`atomic`, `set` or `map`) and, for maps, the item keys."""

    kind: Literal["atomic", "set", "map"]
    keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class Immutable:
    """The field may not change once set: rendered as the CEL transition rule `self == oldSelf` on the field."""


@dataclass(frozen=True)
class RequiredBy:
    """The field is required, enforced by a CEL rule on the parent object with this exact message.

    Used where the upstream API required a field through a CEL rule rather than the schema's `required` list:
    the rule's message is part of the contract, and a `required` entry would stop the API server from ever
    evaluating the rule (a missing required field is a blocking error for CEL).
    """

    message: str


@dataclass(frozen=True)
class SchemaRequired:
    """List the field in the schema's `required` although it has a default (as upstream did)."""


@dataclass(frozen=True)
class CelRule:
    """One `x-kubernetes-validations` entry of an object, with an optional Python twin.

    `check` receives the validated model instance the rule is attached to and returns True when the rule holds;
    `crds.validation` uses it so offline review reports the same message the API server would. `field_path`
    is relative to the object (`.image`) and names the field the failure is about.
    """

    rule: str
    message: str
    field_path: str | None = None
    reason: str | None = None
    message_expression: str | None = None
    check: Callable[[Any], bool] | None = field(default=None, compare=False)


# ---------------------------------------------------------------------------------------------------------------
# Scalar aliases. Integers and booleans are strict: the API server rejects "5" for an integer, so do we.

Int32 = Annotated[int, Strict(), Format("int32")]
Int64 = Annotated[int, Strict(), Format("int64")]
Bool = Annotated[bool, Strict()]

_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$",
)


def _check_date_time(value: str) -> str:
    if not _RFC3339.match(value):
        raise PydanticCustomError("date_time_format", "must be an RFC 3339 date-time")
    return value


DateTime = Annotated[str, Format("date-time"), AfterValidator(_check_date_time)]

QUANTITY_PATTERN = (
    r"^\+?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
"""A resource quantity as Kubernetes writes it, without a sign: quotas and limits are never negative (the exponent
may be, `5e-3`)."""
_QUANTITY = re.compile(QUANTITY_PATTERN)


def _check_quantity(value: object) -> int | str:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise PydanticCustomError("int_or_string_type", "must be an integer or a string")
    if (isinstance(value, str) and not _QUANTITY.match(value)) or (isinstance(value, int) and value < 0):
        raise PydanticCustomError("quantity_format", "must be a resource quantity of 0 or more, such as 500m, 2 or 1Gi")
    return value


Quantity = Annotated[int | str, IntOrString(pattern=QUANTITY_PATTERN, minimum=0), PlainValidator(_check_quantity)]
"""A non-negative resource quantity (`500m`, `1Gi`, `2`), as in a ResourceQuota or LimitRange."""

FreeForm = Annotated[dict[str, Any], PreserveUnknownFields()]
"""An object stored as written, without a schema."""

DNS1123_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"


# ---------------------------------------------------------------------------------------------------------------
# Model base.


class ApiModel(BaseModel):
    """Base of every API object and sub-object.

    Only the wire (camelCase) names are accepted, as by the API server. Unknown keys are kept in `model_extra`
    rather than dropped, so a model never loses data; still, nothing writes a model back to the cluster:
    patches are computed against the raw object (see `crds.defaults`). A JSON `null` counts as absent, which is
    how the API server treats nulls of non-nullable fields (pruned, then defaulted).
    """

    model_config = ConfigDict(
        extra="allow",
        alias_generator=to_camel,
        validate_by_alias=True,
        validate_by_name=False,
        serialize_by_alias=True,
    )

    cel_rules: ClassVar[tuple[CelRule, ...]] = ()
    """`x-kubernetes-validations` of this object."""
    preserve_unknown_fields: ClassVar[bool] = False
    """Keep unknown keys of this object in the cluster (`x-kubernetes-preserve-unknown-fields`)."""
    map_type: ClassVar[Literal["atomic", "granular"] | None] = None
    """`x-kubernetes-map-type` of this object."""

    @model_validator(mode="before")
    @classmethod
    def _nulls_are_absent(cls, data: Any) -> Any:
        if isinstance(data, dict) and None in data.values():
            return {key: value for key, value in data.items() if value is not None}
        return data


# ---------------------------------------------------------------------------------------------------------------
# Common sub-objects.

CONDITION_TYPE_PATTERN = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"
)
CONDITION_REASON_PATTERN = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"


class Condition(ApiModel):
    """One observation of an object's state, in the shape of Kubernetes' standard condition."""

    type: str = Field(
        max_length=316,
        pattern=CONDITION_TYPE_PATTERN,
        description="Kind of condition in CamelCase, such as Ready, Available, Progressing or Degraded.",
    )
    status: Literal["True", "False", "Unknown"] = Field(description="Whether the condition holds.")
    reason: str | None = Field(
        default=None,
        max_length=1024,
        pattern=CONDITION_REASON_PATTERN,
        description="Machine-readable CamelCase reason for the condition's last transition, such as DependencyMissing.",
    )
    message: str | None = Field(
        default=None,
        max_length=32768,
        description="Human-readable explanation of the last transition.",
    )
    last_transition_time: DateTime | None = Field(
        default=None,
        description="When the condition last changed status (RFC 3339).",
    )
    observed_generation: Int64 | None = Field(
        default=None,
        ge=0,
        description="The metadata.generation the condition was computed from; older than the object's "
        "generation means the condition is stale.",
    )


Conditions = Annotated[list[Condition], ListType("map", ("type",))]
"""A conditions list: at most one entry per type, merged by type."""


def conditions_field(types: str) -> Any:
    """The `status.conditions` field, documenting which condition types the controller writes."""
    return Field(default=None, description=f"Current state of the object as conditions; {types}")


class SecretReference(ApiModel):
    """A reference to a Secret by name and optional namespace."""

    map_type: ClassVar[Literal["atomic", "granular"] | None] = "atomic"

    name: str | None = Field(default=None, description="Name of the Secret.")
    namespace: str | None = Field(
        default=None,
        description="Namespace of the Secret. Where a field says so, the object's own namespace is used "
        "whatever this says.",
    )


class ObjectMeta(ApiModel):
    """The subset of Kubernetes object metadata the platform reads; every other key is kept as extra."""

    name: str | None = Field(default=None, description="Object name.")
    generate_name: str | None = Field(default=None, description="Prefix for a server-generated name.")
    namespace: str | None = Field(default=None, description="Namespace of a namespaced object.")
    uid: str | None = Field(default=None, description="Server-assigned unique id.")
    resource_version: str | None = Field(default=None, description="Opaque version for optimistic locking.")
    generation: int | None = Field(default=None, description="Sequence number of spec changes.")
    labels: dict[str, str] | None = Field(default=None, description="Labels.")
    annotations: dict[str, str] | None = Field(default=None, description="Annotations.")
    finalizers: list[str] | None = Field(default=None, description="Finalizers.")
    creation_timestamp: str | None = Field(default=None, description="Creation time.")
    deletion_timestamp: str | None = Field(default=None, description="Deletion request time.")
    owner_references: list[dict[str, Any]] | None = Field(default=None, description="Owners.")


class CustomResource(ApiModel):
    """A whole custom object: apiVersion, kind, metadata, spec and status.

    Subclasses narrow `spec` and `status`. `metadata` is not part of the generated schema: the API server owns
    its validation.
    """

    api_version: str = Field(
        description="Versioned schema of this representation of an object; servers convert recognised schemas "
        "to the latest internal value.",
    )
    kind: str = Field(description="REST resource this object represents, in CamelCase.")
    metadata: ObjectMeta = Field(default_factory=ObjectMeta, description="Standard object metadata.")


# ---------------------------------------------------------------------------------------------------------------
# Kind registration data.


@dataclass(frozen=True)
class PrinterColumn:
    """One `additionalPrinterColumns` entry."""

    name: str
    type: Literal["string", "integer", "number", "boolean", "date"]
    json_path: str
    description: str
    priority: int = 0


def age_column(name: str = "Age") -> PrinterColumn:
    return PrinterColumn(name, "date", ".metadata.creationTimestamp", "Time since the object was created.")


def condition_column(name: str = "Ready", condition: str = "Ready", priority: int = 0) -> PrinterColumn:
    return PrinterColumn(
        name,
        "string",
        f'.status.conditions[?(@.type=="{condition}")].status',
        f"Status of the {condition} condition.",
        priority,
    )


@dataclass(frozen=True)
class ScaleSubresource:
    """The `scale` subresource paths (so `kubectl scale` and HorizontalPodAutoscalers work)."""

    spec_replicas_path: str
    status_replicas_path: str
    label_selector_path: str | None = None


@dataclass(frozen=True)
class KindInfo:
    """Everything known about one served kind: names, scope, models, columns, subresources, documentation.

    The generator renders it into a CustomResourceDefinition; the webhook and controller use it to dispatch
    on (group, kind) or (group, version, plural) and to parse objects into typed models.
    """

    group: str
    version: str
    kind: str
    plural: str
    singular: str
    scope: Literal["Namespaced", "Cluster"]
    model: type[CustomResource]
    description: str
    builds: str
    """What the controller builds from an object of this kind (the behaviour contract, for docs)."""
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    printer_columns: tuple[PrinterColumn, ...] = ()
    scale: ScaleSubresource | None = None
    status_subresource: bool = True
    origin: str = ""

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}"

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{self.group}"

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def spec_model(self) -> type[ApiModel] | None:
        return _field_model(self.model, "spec")

    @property
    def status_model(self) -> type[ApiModel] | None:
        return _field_model(self.model, "status")

    @property
    def spec_required(self) -> bool:
        return self.model.model_fields["spec"].is_required()


def _field_model(model: type[BaseModel], name: str) -> type[ApiModel] | None:
    """The ApiModel class of a model's field, looking through `X | None`."""
    import typing

    annotation = model.model_fields[name].annotation
    candidates = typing.get_args(annotation) or (annotation,)
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, ApiModel):
            return candidate
    return None
