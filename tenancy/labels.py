"""The labels and annotations that carry tenancy and ownership, written by admission and the controller alike.

kubeOP's names are kept (`app.kubeop.io/tenant`, `app.kubeop.io/project`, `app.kubeop.io/managed-by`), so
`kubectl get -l` selectors and tools written for kubeOP keep working.
"""

from __future__ import annotations

from typing import Final

TENANT_LABEL: Final = "app.kubeop.io/tenant"
"""The tenant (Tenant metadata.name) a namespace, a Project or a cluster-scoped object belongs to."""
PROJECT_LABEL: Final = "app.kubeop.io/project"
"""The project (sanitised Project spec.name) of a tenant namespace and of the objects inside it."""

POD_SECURITY_LABEL_PREFIX: Final = "pod-security.kubernetes.io/"
"""Pod Security Admission's namespace labels (`enforce`, `warn`, `audit` and their `-version`s)."""
POD_SECURITY_MODES: Final = ("enforce", "warn", "audit")
POD_SECURITY_VERSION: Final = "latest"
"""The Pod Security Standards version a project namespace names: the cluster's own, as tenantgate's rule follows."""

KUBEOP_MANAGED_BY_LABEL: Final = "app.kubeop.io/managed-by"
KUBEOP_MANAGED_BY_VALUE: Final = "kubeop-admission"
"""kubeOP's mark on admitted Apps, which its tools and end-to-end test look for."""

MANAGED_BY_LABEL: Final = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE: Final = "tenantgate"
"""On every child the controller builds: the fences (quotas, NetworkPolicies) only tenantgate and admins change."""
INVENTORY_LABEL: Final = "tenantgate.io/owner"
"""The uid of the object a child was built for: the owner inventory that pruning and clean-up read."""
HASH_ANNOTATION: Final = "tenantgate.io/applied-hash"
"""A hash of the child as last applied, so an unchanged child costs no write."""
FIELD_MANAGER: Final = "tenantgate"
"""The server-side apply field manager of every write tenantgate makes."""
RESERVED_ANNOTATION_PREFIX: Final = "tenantgate.io/"
