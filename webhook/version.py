"""`/version`: which build is answering, for incident notes and rollout checks.

The version comes from the installed distribution's metadata (one source of truth: pyproject.toml); the
commit and build date cannot be known from an installed wheel, so the image build sets
`TENANTGATE_GIT_COMMIT` and `TENANTGATE_BUILD_DATE`. `service` keeps kubeOP's `/version` field.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from importlib import metadata

UNKNOWN = "unknown"


def version_info(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    env = os.environ if environ is None else environ
    try:
        version = metadata.version("tenantgate")
    except metadata.PackageNotFoundError:
        version = UNKNOWN
    return {
        "service": "admission",
        "version": version,
        "gitCommit": env.get("TENANTGATE_GIT_COMMIT") or UNKNOWN,
        "buildDate": env.get("TENANTGATE_BUILD_DATE") or UNKNOWN,
    }
