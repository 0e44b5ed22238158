"""Images must come from allowed registries: the platform's allowlist, narrowed by the tenant's.

Two layers, both must pass:

1. `KUBEOP_IMAGE_ALLOWLIST` (comma list, case-insensitive; empty allows all), kubeOP's knob. Entries are
   registries (`docker.io`) or repository prefixes (`ghcr.io/acme`).
2. The tenant's `spec.allowedRegistries`: `exact` entries (registries or repository prefixes, same matching)
   and an optional `regex` searched in the normalised reference `registry/repository:tag[@digest]`
   (anchor it with `^...$` to match the whole reference). A tenant without `allowedRegistries` adds no
   narrowing.

Where: every image of Apps (`spec.image`, `spec.hooks.pre[].image`, `spec.hooks.post[].image`) wherever they
are (kubeOP checked Apps everywhere), and in tenant namespaces every container image of Pods and pod templates
(Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job, CronJob; init, regular and
ephemeral containers) plus the images of Shop (`spec.image`) and both Django kinds (thismatters: `spec.image`
with the tag from `spec.version`; blindage: `spec.image`). Outside tenant namespaces Shop and Django behave as
upstream.

Images compare in their normalised form (`nginx` = `docker.io/library/nginx` = `index.docker.io/library/nginx:latest`,
registry hosts case-insensitively), and so do allowlist entries (`nginx` and `docker.io/nginx` allow that image
too), so how an image or an entry is written never changes the answer.

An image without a tag or digest, or tagged `latest`, is admitted with a warning: it is a moving target.
On UPDATE only images that are not already in `oldObject` (in normalised form) are judged (see `findings`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any, Final

from admission.context import RequestContext
from admission.protocol import AdmissionRequest
from admission.rules.findings import Finding, new_findings, verdict_for
from admission.rules.guard import guardrail
from admission.rules.text import list_at, q, spec_of
from admission.rules.workloads import WORKLOAD_KINDS, containers_of, pod_spec_of
from admission.verdict import Verdict
from kube.imageref import ImageReference, ImageReferenceError, matches_entry, parse_image
from tenancy.policy import IMAGE_ALLOWLIST, GlobalPolicy
from tenancy.tenants import TenantRules

APP: Final = ("paas.kubeop.io", "App")
SHOP: Final = ("apps.shophub.local", "Shop")
DJANGO_THISMATTERS: Final = ("thismatters.github", "Django")
DJANGO_BLINDAGE: Final = ("blindage.org", "Django")
IMAGE_KINDS: Final = (APP, SHOP, DJANGO_THISMATTERS, DJANGO_BLINDAGE, *WORKLOAD_KINDS)
EXAMPLE: Final = "ghcr.io/acme/app:1.4"


def _image(value: object) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def images_of(group: str, kind: str, obj: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Every (field path, image) of an object, in document order; pure."""
    key = (group, kind)
    spec = spec_of(obj)
    found: list[tuple[str, str]] = []
    if key == APP:
        if image := _image(spec.get("image")):
            found.append(("spec.image", image))
        hooks = spec.get("hooks")
        if isinstance(hooks, dict):
            for phase in ("pre", "post"):
                for index, hook in enumerate(list_at(hooks, phase, f"spec.hooks.{phase}")):
                    if isinstance(hook, dict) and (image := _image(hook.get("image"))):
                        found.append((f"spec.hooks.{phase}[{index}].image", image))
    elif key in (SHOP, DJANGO_BLINDAGE):
        if image := _image(spec.get("image")):
            found.append(("spec.image", image))
    elif key == DJANGO_THISMATTERS:
        if image := _image(spec.get("image")):
            version = _image(spec.get("version"))
            found.append(("spec.image", f"{image}:{version}" if version else image))
    else:
        pod = pod_spec_of(group, kind, obj)
        if pod is not None:
            for container in containers_of(pod):
                if image := _image(container.body.get("image")):
                    found.append((f"{container.path}.image", image))
    return found


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except re.error:
        return None


def _listing(entries: Sequence[str]) -> str:
    return ", ".join(f"{entry}/" for entry in entries)


def tenant_allows(reference: ImageReference, rules: TenantRules) -> bool:
    if any(matches_entry(reference, entry) for entry in rules.registries_exact):
        return True
    if rules.registries_regex is not None:
        compiled = _compiled(rules.registries_regex)
        return compiled is not None and compiled.search(reference.normalized()) is not None
    return False


def check_image(
    path: str, image: str, policy: GlobalPolicy, rules: TenantRules | None, *, kubeop_phrase: bool
) -> Finding | None:
    """The finding for one image, or None when both layers allow it; pure."""
    try:
        reference = parse_image(image)
    except ImageReferenceError as exc:
        shown = f"{path} {q(image)}"
        return Finding(
            path,
            q(image),
            f"{shown} is not a valid image reference: {exc}; write [registry/]repository[:tag][@digest] with a "
            f"lowercase repository, such as {EXAMPLE}",
            key=(image,),
        )
    platform_refuses = bool(policy.image_allowlist) and not any(
        matches_entry(reference, e) for e in policy.image_allowlist
    )
    tenant_refuses = rules is not None and rules.registries_restricted and not tenant_allows(reference, rules)
    if not (platform_refuses or tenant_refuses):
        return None  # the common case: no message is built
    shown = f"{path} {q(image)}"
    key = (reference.normalized(),)
    upstream = f" (registry {reference.registry} is not allowed)" if kubeop_phrase else ""
    if platform_refuses:
        return Finding(
            path,
            q(image),
            f"{shown} is not from an allowed registry of the platform{upstream}; allowed: "
            f"{_listing(policy.image_allowlist)} ({IMAGE_ALLOWLIST})",
            key=key,
        )
    if rules is not None:
        allowed_list = [f"{entry}/" for entry in rules.registries_exact]
        if rules.registries_regex is not None:
            valid = _compiled(rules.registries_regex) is not None
            allowed_list.append(
                f"images matching {q(rules.registries_regex)}"
                if valid
                else f"none by regex ({q(rules.registries_regex)} is not a valid regular expression)"
            )
        return Finding(
            path,
            q(image),
            f"{shown} is not from an allowed registry of tenant {q(rules.name)}{upstream}; allowed: "
            f"{', '.join(allowed_list) or 'none (spec.allowedRegistries of the tenant lists no registry)'}",
            key=key,
        )
    return None


def same_image(image: str) -> str:
    """The normalised reference of `image` (`nginx` is `docker.io/library/nginx:latest`), or the text if invalid."""
    try:
        return parse_image(image).normalized()
    except ImageReferenceError:
        return image


def unpinned_warning(path: str, image: str) -> str | None:
    try:
        reference = parse_image(image)
    except ImageReferenceError:
        return None
    if reference.pinned:
        return None
    return f"{path} {q(image)} is unpinned; use a version tag or digest"


def _is_app(request: AdmissionRequest) -> bool:
    return (request.kind.group, request.kind.kind) == APP


@guardrail("its images", also_outside_tenants=_is_app)
def allowed_registries(request: AdmissionRequest, ctx: RequestContext) -> Verdict:
    """Deny images outside the platform's and the tenant's allowed registries; warn about unpinned ones."""
    obj = request.object or {}
    group, kind = request.kind.group, request.kind.kind
    is_app = _is_app(request)
    rules = ctx.rules

    current = images_of(group, kind, obj)

    def collect(source: Mapping[str, Any]) -> list[Finding]:
        findings = []
        for path, image in current if source is obj else images_of(group, kind, source):
            finding = check_image(path, image, ctx.policy, rules, kubeop_phrase=is_app)
            if finding is not None:
                findings.append(finding)
        return findings

    fresh, kept = new_findings(request, collect)
    before = {same_image(image) for _, image in images_of(group, kind, request.old_object or {})}
    warnings = [
        w for path, image in current if same_image(image) not in before and (w := unpinned_warning(path, image))
    ]
    return verdict_for(fresh, kept, warnings=warnings)
