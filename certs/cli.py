"""`tenantgate certs ensure`: make the webhook's certificates exist, stay valid and be trusted.

Run at install time and periodically (an init container, a Job or a CronJob); each run is idempotent and
writes only what changed. Exit status: 0 done, 1 the cluster could not be reached or a named webhook
configuration does not exist.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from certs.kube import ensure_in_cluster
from kube.errors import cluster_errors as kube_cluster_errors

log = logging.getLogger("tenantgate.certs")


def api_client(kubeconfig: Path | None) -> Any:
    """An API client from `kubeconfig`, else the in-cluster service account, else the default kubeconfig."""
    from kubernetes import client
    from kubernetes import config as kube_config

    config: Any = kube_config  # the loaders carry no type hints
    if kubeconfig is not None:
        config.load_kube_config(config_file=str(kubeconfig))
    else:
        try:
            config.load_incluster_config()
        except config.ConfigException:
            config.load_kube_config()
    return client.ApiClient()


def cluster_errors() -> tuple[type[BaseException], ...]:
    """What ensuring the certificates can raise: the cluster's errors, an unusable bundle, a lost update race."""
    from certs.bundle import InvalidBundle
    from certs.kube import Conflict

    return (*kube_cluster_errors(), InvalidBundle, Conflict)


def run_cli(args: argparse.Namespace) -> int:
    if getattr(args, "certs_command", "ensure") != "ensure":
        log.error("certs.unknown_action action=%s", args.certs_command)
        return 2
    from kubernetes import client

    try:
        api = api_client(args.kubeconfig)
        result = ensure_in_cluster(
            client.CoreV1Api(api),
            client.AdmissionregistrationV1Api(api),
            namespace=args.namespace,
            secret=args.secret,
            service=args.service,
            webhook_configurations=list(args.webhook_config or []),
            cert_dir=args.cert_dir,
        )
    except cluster_errors() as exc:
        log.error(
            "certs.ensure_failed namespace=%s secret=%s error=%s",
            args.namespace,
            args.secret,
            exc,
            exc_info=log.isEnabledFor(logging.DEBUG),
        )
        return 1
    action = "written" if result.changed else "unchanged"
    print(
        f"secret {args.namespace}/{args.secret}: {action}"
        + (f" ({'; '.join(result.reasons)})" if result.changed else "")
    )
    for name in result.injection.patched:
        print(f"caBundle injected: {name}")
    if result.injection.missing:
        log.error("certs.configuration_missing names=%s", ",".join(result.injection.missing))
        return 1
    return 0
