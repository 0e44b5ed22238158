"""Wrong-typed fields deep in an object: a 422 naming the field, never a silent skip.

The guardrails read nested fields (`spec.template.spec.containers[].securityContext.privileged`,
`spec.rules[].host`, ...) and look past values of another type, so a container that is a string or a
`securityContext` that is a list would be judged as if it said nothing, and admitted. The API server refuses such
shapes for built-in kinds before any webhook, but `/validate` can be called directly and `tenantgate review`
judges files offline: neither may allow what it could not read. So every field a rule reads is declared here,
with its JSON type, once per kind; `well_formed` runs first for every judged kind and raises `MalformedObject`
(a 422 `Invalid` naming the path and the type found) at the first field of the wrong type. `null` is absent, as
for the API server. Fields no rule reads are not checked: the schema of the kind is the API server's business.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from admission.context import RequestContext
from admission.protocol import AdmissionRequest
from admission.rules.workloads import POD_SPEC_PATHS
from admission.verdict import MalformedObject, Verdict, allowed


@dataclass(frozen=True, slots=True)
class Scalar:
    """A JSON string, boolean or integer (a boolean is not an integer here, as in JSON)."""

    expected: str
    types: tuple[type, ...]


@dataclass(frozen=True, slots=True)
class Obj:
    """A JSON object; the listed fields have the given shapes, others are not looked at."""

    fields: Mapping[str, Shape]


@dataclass(frozen=True, slots=True)
class Arr:
    """A JSON array whose every item has the given shape."""

    item: Shape


@dataclass(frozen=True, slots=True)
class StringMap:
    """A JSON object of strings (labels, annotations)."""


Shape = Scalar | Obj | Arr | StringMap

STRING: Final = Scalar("a string", (str,))
BOOLEAN: Final = Scalar("a boolean", (bool,))
INTEGER: Final = Scalar("an integer", (int,))
ANY_OBJECT: Final = Obj({})
METADATA: Final = Obj({"labels": StringMap(), "annotations": StringMap()})

_CONTEXT: Final[dict[str, Shape]] = {
    "privileged": BOOLEAN,
    "allowPrivilegeEscalation": BOOLEAN,
    "runAsNonRoot": BOOLEAN,
    "runAsUser": INTEGER,
    "procMount": STRING,
    "capabilities": Obj({"add": Arr(STRING), "drop": Arr(STRING)}),
    "seccompProfile": Obj({"type": STRING}),
    "appArmorProfile": Obj({"type": STRING}),
    "seLinuxOptions": Obj({"type": STRING, "user": STRING, "role": STRING}),
    "windowsOptions": Obj({"hostProcess": BOOLEAN}),
}
CONTAINER: Final = Obj(
    {
        "name": STRING,
        "image": STRING,
        "securityContext": Obj(_CONTEXT),
        "ports": Arr(Obj({"hostPort": INTEGER})),
    }
)
POD_SPEC: Final = Obj(
    {
        "containers": Arr(CONTAINER),
        "initContainers": Arr(CONTAINER),
        "ephemeralContainers": Arr(CONTAINER),
        "hostNetwork": BOOLEAN,
        "hostPID": BOOLEAN,
        "hostIPC": BOOLEAN,
        "os": Obj({"name": STRING}),
        "volumes": Arr(Obj({"name": STRING, "hostPath": ANY_OBJECT})),
        "securityContext": Obj({**_CONTEXT, "sysctls": Arr(Obj({"name": STRING, "value": STRING}))}),
    }
)


def _workload(path: tuple[str, ...]) -> Obj:
    """The object shape that holds `POD_SPEC` at `path`, with the metadata of every template on the way."""
    shape = POD_SPEC
    for depth in range(len(path) - 1, -1, -1):
        fields: dict[str, Shape] = {path[depth]: shape}
        if depth > 0 and path[depth] == "spec" and path[depth - 1] in ("template", "jobTemplate"):
            fields["metadata"] = METADATA
        shape = Obj(fields)
    return shape


def _spec(**fields: Shape) -> Obj:
    return Obj({"spec": Obj(fields)})


_REFERENCE: Final = Obj({"name": STRING, "namespace": STRING})
_HOOKS: Final = Arr(Obj({"image": STRING}))

SHAPES: Final[dict[tuple[str, str], Obj]] = {
    **{kind: _workload(path) for kind, path in POD_SPEC_PATHS.items()},
    ("networking.k8s.io", "Ingress"): _spec(
        rules=Arr(Obj({"host": STRING})), tls=Arr(Obj({"hosts": Arr(STRING), "secretName": STRING}))
    ),
    ("networking.k8s.io", "NetworkPolicy"): _spec(
        egress=Arr(Obj({"to": Arr(Obj({"ipBlock": Obj({"cidr": STRING, "except": Arr(STRING)})}))}))
    ),
    ("", "Service"): _spec(type=STRING, externalIPs=Arr(STRING)),
    ("", "ResourceQuota"): _spec(hard=ANY_OBJECT),
    ("paas.kubeop.io", "Project"): _spec(tenantRef=STRING, name=STRING, quota=Obj({"hard": ANY_OBJECT})),
    ("paas.kubeop.io", "App"): _spec(image=STRING, host=STRING, hooks=Obj({"pre": _HOOKS, "post": _HOOKS})),
    ("paas.kubeop.io", "DNSRecord"): _spec(host=STRING),
    ("paas.kubeop.io", "Certificate"): _spec(host=STRING),
    ("paas.kubeop.io", "Registry"): _spec(passwordRef=STRING),
    ("apps.shophub.local", "Shop"): _spec(image=STRING, discordWebhookSecretRef=_REFERENCE),
    ("notify.shophub.local", "DiscordChannel"): _spec(botTokenRef=_REFERENCE),
    ("thismatters.github", "Django"): _spec(host=STRING, image=STRING, version=STRING),
    ("blindage.org", "Django"): _spec(image=STRING),
}
"""(group, kind) -> the shape of every field a guardrail reads in objects of that kind."""

SHAPED_KINDS: Final = tuple(SHAPES)


def _key(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def check_shape(value: Any, shape: Shape, path: str) -> None:
    """Raise `MalformedObject` at the first field under `path` whose JSON type differs from `shape`; pure."""
    if value is None:
        return
    if isinstance(shape, Scalar):
        if not isinstance(value, shape.types) or (bool not in shape.types and isinstance(value, bool)):
            raise MalformedObject(path, shape.expected, value)
    elif isinstance(shape, Obj):
        if not isinstance(value, dict):
            raise MalformedObject(path, "an object", value)
        for key, inner in shape.fields.items():
            if key in value:
                check_shape(value[key], inner, _key(path, key))
    elif isinstance(shape, Arr):
        if not isinstance(value, list):
            raise MalformedObject(path, "an array", value)
        for index, item in enumerate(value):
            check_shape(item, shape.item, f"{path}[{index}]")
    else:
        if not isinstance(value, dict):
            raise MalformedObject(path, "a map of strings", value)
        for key, text in value.items():
            if not isinstance(text, str):
                raise MalformedObject(f"{path}[{json.dumps(key, ensure_ascii=False)[:80]}]", "a string", text)


def fits(value: Any, shape: Shape) -> bool:
    """Whether `value` has `shape`: `check_shape` without building paths, for the common, well-formed case; pure."""
    if value is None:
        return True
    if type(shape) is Scalar:
        kind = type(value)
        return kind in shape.types or (kind is not bool and isinstance(value, shape.types))
    if type(shape) is Obj:
        if not isinstance(value, dict):
            return False
        for key, inner in shape.fields.items():
            item = value.get(key)
            if item is not None and not fits(item, inner):
                return False
        return True
    if type(shape) is Arr:
        if not isinstance(value, list):
            return False
        item_shape = shape.item
        return all(fits(item, item_shape) for item in value)
    return isinstance(value, dict) and all(isinstance(text, str) for text in value.values())


def well_formed(request: AdmissionRequest, ctx: RequestContext) -> Verdict:
    """Admit when every field the rules read has its JSON type; otherwise raise `MalformedObject` (422)."""
    shape = SHAPES.get((request.kind.group, request.kind.kind))
    obj = request.object
    if shape is not None and obj is not None and not fits(obj, shape):
        check_shape(obj, shape, "")  # finds the first misfit again, with its path, and raises
    return allowed()
