"""Run the registered handlers for one request and combine their verdicts.

This is the one implementation of "what does tenantgate answer": the HTTPS server calls it for every
AdmissionReview and `tenantgate review` calls it for files, so the two can never disagree.

Combination rules (controller-runtime style):
- validating: handlers run in registration order and the first denial wins; warnings accumulate.
- mutating: every handler sees the object as the previous handlers left it (their patches are replayed on
  a copy-on-write overlay), patch operations concatenate, warnings accumulate.
- admit (single-call routing): mutating, then validating on the mutated object, answered as one verdict.

A handler that raises `MalformedObject` found a field of the wrong type: that is the object's fault, not
tenantgate's, so both directions deny it with 422 Invalid and the field's path (logged as one line, no trace).

Other handler failures are contained here and answered differently on purpose:
- a validating handler that raises denies the request (fail closed): a guardrail that cannot be evaluated
  must not let an object through.
- a defaulting handler that raises is skipped with a warning (fail open): a missing default never makes
  an otherwise valid write impossible, and the validating webhook still judges the result.
Both are logged with the stack trace and the review uid.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from admission.context import RequestContext
from admission.patch import PatchError, PatchRecorder
from admission.protocol import AdmissionRequest
from admission.registry import Handler, HandlerRegistry, Registries
from admission.verdict import MalformedObject, Verdict, allowed, errored, invalid, patched
from admission.view import ClusterView
from kube.logfmt import kv

log = logging.getLogger("tenantgate.webhook.dispatch")


def handler_name(handler: Handler) -> str:
    module = getattr(handler, "__module__", "") or ""
    name = getattr(handler, "__qualname__", None) or type(handler).__name__
    return f"{module}.{name}" if module else name


def _context(request: AdmissionRequest) -> dict[str, object]:
    return {
        "uid": request.uid,
        "operation": request.operation,
        "group": request.kind.group,
        "kind": request.kind.kind,
        "object": request.display_name,
    }


@dataclass(frozen=True, slots=True)
class MutationResult:
    """The combined mutating verdict and the object as the patch leaves it (None when there is none)."""

    verdict: Verdict
    patched_object: dict[str, Any] | None


def mutate(
    request: AdmissionRequest, view: ClusterView, registry: HandlerRegistry, context: RequestContext | None = None
) -> MutationResult:
    """Run every defaulting handler for the request; see the module docstring for the rules."""
    handlers = registry.handlers_for(request.kind.group, request.kind.kind, request.operation)
    if not handlers:
        return MutationResult(allowed(), request.object)
    ctx = context or RequestContext(request, view)
    current_object = request.object
    current = request
    operations: list[Mapping[str, Any]] = []
    warnings: list[str] = []
    last = len(handlers) - 1
    for index, handler in enumerate(handlers):
        try:
            verdict = handler(current, ctx)
        except MalformedObject as exc:
            log.info(kv("handler.malformed", _context(request), handler=handler_name(handler), error=exc))
            return MutationResult(invalid(_malformed_message(request, exc), warnings=warnings), None)
        except Exception:
            # Fail open on purpose: a missing default must not block a write (module docstring).
            log.exception(kv("handler.failed", _context(request), handler=handler_name(handler), mode="mutating"))
            warnings.append(
                f"defaulting step {_short_name(handler)} failed; the object was admitted without its defaults"
            )
            continue
        warnings.extend(verdict.warnings)
        if not verdict.allowed:
            return MutationResult(replace(verdict, warnings=tuple(warnings), patch=(), patched_object=None), None)
        if not verdict.patch:
            continue
        if current_object is None:
            log.warning(
                kv("handler.patch_ignored", _context(request), handler=handler_name(handler), why="no object to patch")
            )
            continue
        if verdict.patched_object is not None:
            # The handler's recorder was built on `current.object`: its result is the next object.
            current_object = verdict.patched_object
            operations.extend(verdict.patch)
        else:
            recorder = PatchRecorder(current_object)
            try:
                recorder.apply(verdict.patch)
            except PatchError as exc:
                log.error(kv("handler.bad_patch", _context(request), handler=handler_name(handler), error=exc))
                warnings.append(
                    f"defaulting step {_short_name(handler)} produced an invalid patch; its defaults were not applied"
                )
                continue
            current_object = recorder.current
            operations.extend(recorder.operations())
        if index < last:  # only a following handler reads it; the copy costs ~3 µs
            current = request.model_copy(update={"object": current_object})
    return MutationResult(patched(operations, warnings=warnings), current_object)


def _malformed_message(request: AdmissionRequest, error: MalformedObject) -> str:
    return f"{request.kind.kind} {request.display_name} is malformed: {error}, as its schema requires"


def _short_name(handler: Handler) -> str:
    return str(getattr(handler, "__name__", "handler"))


def validate(
    request: AdmissionRequest, view: ClusterView, registry: HandlerRegistry, context: RequestContext | None = None
) -> Verdict:
    """Run every guardrail for the request; the first denial wins."""
    warnings: list[str] = []
    handlers = registry.handlers_for(request.kind.group, request.kind.kind, request.operation)
    if not handlers:
        return allowed()
    ctx = context or RequestContext(request, view)
    for handler in handlers:
        try:
            verdict = handler(request, ctx)
        except MalformedObject as exc:
            log.info(kv("handler.malformed", _context(request), handler=handler_name(handler), error=exc))
            return invalid(_malformed_message(request, exc), warnings=warnings)
        except Exception:
            # Fail closed on purpose: a guardrail that cannot be evaluated must not admit (module docstring).
            log.exception(kv("handler.failed", _context(request), handler=handler_name(handler), mode="validating"))
            message = (
                f"tenantgate could not evaluate {request.kind.kind} {request.display_name} "
                f"(review uid {request.uid}): an internal error occurred in a validation rule, and validation "
                "fails closed; retry, and if it persists ask the platform operators to check the webhook log"
            )
            return errored(message).with_warnings(*warnings)
        warnings.extend(verdict.warnings)
        if not verdict.allowed:
            return replace(verdict, warnings=tuple(warnings), patch=())
    return allowed(warnings=warnings)


@dataclass(frozen=True, slots=True)
class ReviewOutcome:
    """Mutate-then-validate for one request, as the API server would run both webhooks."""

    mutation: Verdict
    validation: Verdict | None
    patched_object: dict[str, Any] | None

    @property
    def allowed(self) -> bool:
        return self.mutation.allowed and (self.validation is None or self.validation.allowed)

    @property
    def final(self) -> Verdict:
        """The verdict that decides the outcome (the denial if any), with every warning from both steps."""
        if not self.mutation.allowed or self.validation is None:
            return self.mutation
        decisive = self.validation
        return replace(decisive, warnings=self.mutation.warnings + decisive.warnings, patch=self.mutation.patch)


ObjectCheck = Callable[[AdmissionRequest], Verdict | None]
"""The API server's own validation of the mutated object (schema, CEL), run between the two webhooks."""


def review(
    request: AdmissionRequest, view: ClusterView, registries: Registries, server_check: ObjectCheck | None = None
) -> ReviewOutcome:
    """Mutate, then validate the mutated object: what the API server does with both webhooks.

    `server_check`, when given, stands for the API server's object validation between the two (offline review):
    a verdict that denies ends the review there, as the API server would before calling validating webhooks.
    """
    context = RequestContext(request, view)
    mutation = mutate(request, view, registries.mutating, context)
    if not mutation.verdict.allowed:
        return ReviewOutcome(mutation.verdict, None, None)
    validated = request
    if request.object is not None and mutation.patched_object is not request.object:
        validated = request.model_copy(update={"object": mutation.patched_object})
        context = context.for_request(validated)
    refusal = server_check(validated) if server_check is not None else None
    if refusal is not None and not refusal.allowed:
        return ReviewOutcome(mutation.verdict, refusal, mutation.patched_object)
    verdict = validate(validated, view, registries.validating, context)
    return ReviewOutcome(mutation.verdict, verdict, mutation.patched_object)


def admit(request: AdmissionRequest, view: ClusterView, registries: Registries) -> Verdict:
    """Defaults and guardrails in one call: the mutated object is judged before the answer leaves.

    The single-call routing (`admission.configuration`) sends a kind's writes here from the mutating
    configuration, so each write costs the API server one webhook call instead of two. The answer carries the
    patch when the mutated object is admitted, and the refusal (without a patch) when it is not. A change another
    admission plugin or webhook makes after this call brings the object back here (`reinvocationPolicy:
    IfNeeded`), so the object stored is the object judged.
    """
    outcome = review(request, view, registries)
    verdict = outcome.final
    return verdict if verdict.allowed else replace(verdict, patch=(), patched_object=None)
