"""Ingress snippet annotations: raw proxy configuration stays out of tenant namespaces.

An ingress controller is shared by every tenant, and a snippet annotation (ingress-nginx
`nginx.ingress.kubernetes.io/configuration-snippet`, `server-snippet`, `auth-snippet`, ...; NGINX's
`nginx.org/server-snippets`, ...) pastes its text into that controller's configuration. A snippet can add server
names no hostname rule sees (`server_name shop.acme.example;`), serve files of the controller (CVE-2021-25742
read the controller's service account token, and with it every tenant's Secrets), or proxy to another tenant's
services. So in tenant namespaces:

- an annotation whose name ends in `-snippet` or `-snippets`, under any prefix (ingress-nginx's prefix is
  configurable), is denied, unless a platform admin annotates the Tenant `tenantgate.io/ingress-snippets: allowed`
  (annotations under `tenantgate.io/` on a Tenant are reserved to platform admins);
- even where snippets are allowed, one that contains a `server_name` directive is denied: names belong in
  `spec.rules[].host` or the server-alias annotation, where the hostname rules see them.

On UPDATE only snippet annotations that are new or changed are judged (see `findings`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from admission.context import RequestContext
from admission.protocol import AdmissionRequest
from admission.rules.findings import Finding, new_findings, verdict_for
from admission.rules.guard import guardrail
from admission.rules.text import metadata_of, q
from admission.verdict import Verdict
from admission.view import INGRESS
from tenancy.tenants import INGRESS_SNIPPETS_ANNOTATION

SNIPPET_KINDS: Final = (INGRESS,)
_SERVER_NAME: Final = re.compile(r"(?<![\w-])server_name(?![\w-])", re.IGNORECASE)
MAX_SHOWN: Final = 60


def is_snippet_annotation(key: str) -> bool:
    """True for `<prefix>/<name>-snippet` and `<prefix>/<name>-snippets` (and the same without a prefix)."""
    name = key.rpartition("/")[2].lower()
    return name.endswith(("-snippet", "-snippets"))


def snippet_annotations(obj: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(annotation key, value) of every snippet annotation of an object, sorted by key; pure."""
    annotations = metadata_of(obj).get("annotations")
    if not isinstance(annotations, dict):
        return []
    return sorted((k, str(v)) for k, v in annotations.items() if isinstance(k, str) and is_snippet_annotation(k))


def sets_server_name(snippet: str) -> bool:
    return _SERVER_NAME.search(snippet) is not None


def _shown(value: str) -> str:
    flat = " ".join(value.split())
    return q(flat if len(flat) <= MAX_SHOWN else flat[: MAX_SHOWN - 3] + "...")


@guardrail("its annotations")
def ingress_snippets(request: AdmissionRequest, ctx: RequestContext) -> Verdict:
    """Deny snippet annotations on Ingresses in tenant namespaces (unless the Tenant allows them), and always those
    that set `server_name`."""
    rules = ctx.rules
    allowed = rules is not None and rules.ingress_snippets
    tenant = ctx.tenancy.tenant

    def collect(source: Mapping[str, Any]) -> list[Finding]:
        findings = []
        for key, value in snippet_annotations(source):
            path = f'metadata.annotations["{key}"]'
            if sets_server_name(value):
                message = (
                    f"{path} {_shown(value)} sets server_name: a snippet may not add server names, because the "
                    "hostname rules cannot see them; allowed: spec.rules[].host or the "
                    "nginx.ingress.kubernetes.io/server-alias annotation"
                )
            elif not allowed:
                message = (
                    f"{path} {_shown(value)}: snippet annotations paste raw configuration into the ingress "
                    "controller every tenant shares (they can add server names, read the controller's files and "
                    "credentials, CVE-2021-25742), so they are not allowed in tenant namespaces; allowed: the "
                    "Ingress fields and annotations that are not snippets, or ask a platform admin to annotate "
                    f"Tenant {q(tenant)} {INGRESS_SNIPPETS_ANNOTATION}: allowed"
                )
            else:
                continue
            findings.append(Finding(path, _shown(value), message, key=(key, value)))
        return findings

    fresh, kept = new_findings(request, collect)
    return verdict_for(fresh, kept)
