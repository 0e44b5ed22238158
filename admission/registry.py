"""Where admission handlers are registered, by (group, kind, operation).

Policy plugs in here: a handler is a plain function `(request, context) -> Verdict` (the context holds the
cluster view and the request's facts, see `admission.context`), registered for the
kinds and operations it judges, in one registry for defaulting (`/mutate`) and one for guardrails
(`/validate`). The server and `tenantgate review` look handlers up the same way, so a rule behaves the same
online and offline. `"*"` as group or kind matches any, for generic handlers such as the CRD defaulter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Final

from admission.context import RequestContext
from admission.protocol import OPERATIONS, AdmissionRequest, Operation
from admission.verdict import Verdict

Handler = Callable[[AdmissionRequest, RequestContext], Verdict]
ANY: Final = "*"
HandlerKey = tuple[str, str, Operation]


class HandlerRegistry:
    """Handlers per (group, kind, operation), kept in registration order (the order they run in)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._entries: list[tuple[str, str, frozenset[Operation], Handler]] = []
        self._kinds: set[tuple[str, str]] = set()
        # Only registered kinds are cached: `request.kind` is whatever a client sends, so caching every kind
        # seen would let anyone who can reach the webhook grow its memory without bound.
        self._cache: dict[HandlerKey, tuple[Handler, ...]] = {}

    def add(
        self,
        group: str,
        kind: str,
        operations: Iterable[Operation],
        handler: Handler,
    ) -> Handler:
        ops = frozenset(operations)
        unknown = ops - set(OPERATIONS)
        if not ops or unknown:
            raise ValueError(f"operations must be a non-empty subset of {OPERATIONS}, got {sorted(ops)}")
        self._entries.append((group, kind, ops, handler))
        self._kinds.add((group, kind))
        self._cache.clear()
        return handler

    def register(self, group: str, kind: str, *operations: Operation) -> Callable[[Handler], Handler]:
        """Decorator form of `add`: `@registry.register("paas.kubeop.io", "Project", "CREATE", "UPDATE")`."""

        def decorate(handler: Handler) -> Handler:
            return self.add(group, kind, operations, handler)

        return decorate

    def handlers_for(self, group: str, kind: str, operation: Operation) -> tuple[Handler, ...]:
        key = (group, kind, operation)
        found = self._cache.get(key)
        if found is None:
            found = tuple(
                handler
                for g, k, ops, handler in self._entries
                if operation in ops and g in (group, ANY) and k in (kind, ANY)
            )
            if (group, kind) in self._kinds:
                self._cache[key] = found
        return found

    def judges(self, group: str, kind: str) -> bool:
        """Whether a handler is registered for exactly this kind (wildcard registrations do not count)."""
        return (group, kind) in self._kinds

    def without(self, handler: Handler) -> HandlerRegistry:
        """A copy with every registration of `handler` left out: what the other handlers cost without it."""
        copy = HandlerRegistry(self.name)
        for group, kind, ops, registered in self._entries:
            if registered is not handler:
                copy.add(group, kind, ops, registered)
        return copy

    def registrations(self) -> list[tuple[str, str, tuple[Operation, ...]]]:
        """What is registered, for `/metrics`-free introspection and tests."""
        return [(g, k, tuple(sorted(ops))) for g, k, ops, _ in self._entries]


@dataclass(frozen=True)
class Registries:
    """The pair the server and `tenantgate review` dispatch into."""

    mutating: HandlerRegistry = field(default_factory=lambda: HandlerRegistry("mutating"))
    validating: HandlerRegistry = field(default_factory=lambda: HandlerRegistry("validating"))
