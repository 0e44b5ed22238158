"""The one family of "the cluster cannot be reached or refused": what a command catches to exit with a message.

Two clients reach the API server: tenantgate's own async client (`kube.client`) and, for kubeconfig loading and
`certs ensure`, the official one. A command that talks to the cluster answers any of their configuration,
transport or API errors the same way: a one-line reason and a non-zero exit, never a stack trace.
"""

from __future__ import annotations

import aiohttp

from kube.client import ApiError


def cluster_errors() -> tuple[type[BaseException], ...]:
    """Configuration, transport and API errors of both clients (the official one is imported on first use)."""
    from kubernetes.client.exceptions import OpenApiException
    from kubernetes.config import ConfigException
    from urllib3.exceptions import HTTPError

    return (ApiError, aiohttp.ClientError, OpenApiException, ConfigException, HTTPError, OSError, ValueError)
