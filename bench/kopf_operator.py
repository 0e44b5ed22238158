# ruff: noqa: E402  (imports follow the import-path fix below)
"""The peer in the admission webhook benchmark: kopf serving the same decisions as tenantgate.

kopf is the framework Python operators usually reach for, and it has its own admission server
(`kopf.WebhookServer`, aiohttp over TLS, like tenantgate's). To compare the frameworks and not two policies,
the handlers here decide exactly what tenantgate decides: each one rebuilds the `AdmissionRequest` from the
kwargs kopf passes (object, old object, userInfo, operation, dry run, resource) and calls the same pure
functions tenantgate's server calls, `admission.dispatch.mutate` / `admission.dispatch.validate`, with the same
`build_registries()` and the same in-memory cluster view (Tenant, Project, Namespace). So whatever handlers
`build_registries()` holds at run time (schema defaults, tenancy labels, guardrails) run on both sides.

What kopf adds is its own machinery, used the way kopf intends:
- `shop-mutate` (`@kopf.on.mutate`): a denial raises `kopf.AdmissionError`; the defaults and labels are
  written into kopf's `patch` (`patch["spec"]["availability"] = ...`, `patch["metadata"]["labels"][...]`),
  which kopf renders as JSONPatch itself (a deep copy of the object and a diff, once per request). Operations
  that step through a list are applied as a `patch.fns` transformation instead, as kopf's merge-patch
  cannot address list items.
- `shop-validate` and `pod-validate` (`@kopf.on.validate`): a denial raises `kopf.AdmissionError` with the
  same message and code; warnings go to kopf's `warnings` list.
- `shop-admit` and `pod-admit` (`@kopf.on.mutate`): tenantgate's single call (`admission.dispatch.admit`:
  defaults, then the guardrails on the defaulted object), answered as `shop-mutate` answers.

kopf routes an admission request by the handler id in the URL path (`WebhookServer` serves `POST /{id}`), so
the benchmark posts to `/shop-mutate`, `/shop-validate`, `/pod-validate`, `/shop-admit` and `/pod-admit`.
The handlers are `async def`: kopf runs sync handlers in a thread pool, and a thread hop per request would
charge kopf for a choice made here. kopf needs an operator run, hence an API server (it discovers the served
resources before it starts serving webhooks); `settings.admission.managed = None` keeps it from writing webhook
configurations, since the benchmark calls it directly.

Run as `kopf run --standalone --all-namespaces bench/kopf_operator.py` with `TENANTGATE_BENCH_DIR` (holding
`view.json` and `certs/tls.crt`, `certs/tls.key`) and `TENANTGATE_BENCH_KOPF_PORT` in the environment.
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/webhook.py shares its name with the `webhook` package under test, and Python (or kopf, for an operator
# file) puts a script's directory first on the import path: take bench/ off it, so `webhook` is the package.
_BENCH = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if not entry or Path(entry).resolve() != _BENCH]

import copy
import json
import os
from collections.abc import Mapping
from typing import Any

import jsonpatch
import kopf

from admission import dispatch
from admission.protocol import AdmissionRequest, Operation
from admission.rules import build_registries
from admission.verdict import Verdict
from admission.view import InMemoryClusterView
from webhook.tls import make_server_context

BENCH_DIR = Path(os.environ.get("TENANTGATE_BENCH_DIR", "."))
VIEW = InMemoryClusterView.from_objects(json.loads((BENCH_DIR / "view.json").read_text()))
REGISTRIES = build_registries()
WRITE: tuple[Operation, ...] = ("CREATE", "UPDATE")


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    """Serve admission on loopback with the benchmark's certificate and tenantgate's TLS settings."""
    cert, key = BENCH_DIR / "certs" / "tls.crt", BENCH_DIR / "certs" / "tls.key"
    settings.admission.server = kopf.WebhookServer(
        addr="127.0.0.1",
        host="127.0.0.1",
        port=int(os.environ["TENANTGATE_BENCH_KOPF_PORT"]),
        certfile=str(cert),
        pkeyfile=str(key),
        context=make_server_context(cert, key),
    )
    settings.admission.managed = None


def _request(
    resource: kopf.Resource,
    body: kopf.Body,
    old: kopf.Body | None,
    userinfo: Mapping[str, Any],
    operation: str | None,
    dryrun: bool,
    subresource: str | None,
) -> AdmissionRequest:
    """The AdmissionRequest tenantgate's handlers take, from what kopf hands a handler (no copies of the object)."""
    raw = dict(body)
    metadata = raw.get("metadata") or {}
    gvk = {"group": resource.group, "version": resource.version, "kind": resource.kind or ""}
    return AdmissionRequest.model_validate(
        {
            "uid": str(metadata.get("uid") or "kopf"),
            "kind": gvk,
            "resource": {"group": resource.group, "version": resource.version, "resource": resource.plural},
            "subResource": subresource or "",
            "name": str(metadata.get("name") or ""),
            "namespace": str(metadata.get("namespace") or ""),
            "operation": operation,
            "userInfo": dict(userinfo),
            "object": raw if operation != "DELETE" else None,
            "oldObject": dict(old) if old is not None else None,
            "dryRun": dryrun,
        }
    )


def _deny_or_warn(verdict: Verdict, warnings: list[str]) -> None:
    warnings.extend(verdict.warnings)
    if not verdict.allowed:
        raise kopf.AdmissionError(verdict.message, code=verdict.code)


def _through_lists(raw: Mapping[str, Any], parts: list[str]) -> bool:
    node: Any = raw
    for part in parts[:-1]:
        if isinstance(node, list):
            return True
        node = node.get(part) if isinstance(node, Mapping) else None
    return isinstance(node, list)


def _apply_to_kopf_patch(patch: kopf.Patch, raw: Mapping[str, Any], operations: list[Mapping[str, Any]]) -> None:
    """Express tenantgate's JSONPatch operations in kopf's patch: merge-patch keys, or a transformation."""
    paths = [[p.replace("~1", "/").replace("~0", "~") for p in str(op["path"]).split("/")[1:]] for op in operations]
    if any(op["op"] not in ("add", "replace", "remove") for op in operations) or any(
        _through_lists(raw, parts) for parts in paths
    ):
        ops = copy.deepcopy(operations)
        patch.fns.append(lambda body: jsonpatch.apply_patch(body, ops, in_place=True))
        return
    for op, parts in zip(operations, paths, strict=True):
        target: dict[str, Any] = patch
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        if op["op"] == "remove":
            target[parts[-1]] = None
            continue
        value = copy.deepcopy(op["value"])
        existing = target.get(parts[-1])
        if isinstance(existing, dict) and isinstance(value, dict):
            existing.update(value)
        else:
            target[parts[-1]] = value


def _answer_mutating(request: AdmissionRequest, verdict: Verdict, patch: kopf.Patch, warnings: list[str]) -> None:
    """A mutating handler's answer: the refusal, or the warnings and tenantgate's patch in kopf's."""
    _deny_or_warn(verdict, warnings)
    if verdict.patch:
        _apply_to_kopf_patch(patch, request.object or {}, list(verdict.patch))


@kopf.on.mutate("apps.shophub.local", "v1", "shops", id="shop-mutate", operations=WRITE)
async def shop_mutate(
    *,
    resource: kopf.Resource,
    body: kopf.Body,
    userinfo: Mapping[str, Any],
    dryrun: bool,
    subresource: str | None,
    patch: kopf.Patch,
    warnings: list[str],
    **kwargs: Any,
) -> None:
    """tenantgate's defaulting for a Shop (schema defaults, and tenancy labels when registered)."""
    request = _request(resource, body, kwargs.get("old"), userinfo, kwargs.get("operation"), dryrun, subresource)
    _answer_mutating(request, dispatch.mutate(request, VIEW, REGISTRIES.mutating).verdict, patch, warnings)


@kopf.on.validate("apps.shophub.local", "v1", "shops", id="shop-validate", operations=WRITE)
async def shop_validate(
    *,
    resource: kopf.Resource,
    body: kopf.Body,
    userinfo: Mapping[str, Any],
    dryrun: bool,
    subresource: str | None,
    warnings: list[str],
    **kwargs: Any,
) -> None:
    """tenantgate's validation for a Shop."""
    request = _request(resource, body, kwargs.get("old"), userinfo, kwargs.get("operation"), dryrun, subresource)
    _deny_or_warn(dispatch.validate(request, VIEW, REGISTRIES.validating), warnings)


@kopf.on.validate("v1", "pods", id="pod-validate", operations=WRITE)
async def pod_validate(
    *,
    resource: kopf.Resource,
    body: kopf.Body,
    userinfo: Mapping[str, Any],
    dryrun: bool,
    subresource: str | None,
    warnings: list[str],
    **kwargs: Any,
) -> None:
    """tenantgate's validation for a Pod."""
    request = _request(resource, body, kwargs.get("old"), userinfo, kwargs.get("operation"), dryrun, subresource)
    _deny_or_warn(dispatch.validate(request, VIEW, REGISTRIES.validating), warnings)


async def _admit(
    resource: kopf.Resource,
    body: kopf.Body,
    userinfo: Mapping[str, Any],
    dryrun: bool,
    subresource: str | None,
    patch: kopf.Patch,
    warnings: list[str],
    kwargs: Mapping[str, Any],
) -> None:
    """tenantgate's single call: defaults, then the guardrails on the defaulted object, in one mutating handler."""
    request = _request(resource, body, kwargs.get("old"), userinfo, kwargs.get("operation"), dryrun, subresource)
    _answer_mutating(request, dispatch.admit(request, VIEW, REGISTRIES), patch, warnings)


@kopf.on.mutate("apps.shophub.local", "v1", "shops", id="shop-admit", operations=WRITE)
async def shop_admit(
    *,
    resource: kopf.Resource,
    body: kopf.Body,
    userinfo: Mapping[str, Any],
    dryrun: bool,
    subresource: str | None,
    patch: kopf.Patch,
    warnings: list[str],
    **kwargs: Any,
) -> None:
    """tenantgate's single call for a Shop."""
    await _admit(resource, body, userinfo, dryrun, subresource, patch, warnings, kwargs)


@kopf.on.mutate("v1", "pods", id="pod-admit", operations=WRITE)
async def pod_admit(
    *,
    resource: kopf.Resource,
    body: kopf.Body,
    userinfo: Mapping[str, Any],
    dryrun: bool,
    subresource: str | None,
    patch: kopf.Patch,
    warnings: list[str],
    **kwargs: Any,
) -> None:
    """tenantgate's single call for a Pod."""
    await _admit(resource, body, userinfo, dryrun, subresource, patch, warnings, kwargs)
