"""The `tenantgate` command line.

One parser for every subcommand; each subcommand imports its package lazily so that `tenantgate crds`
does not pay for aiohttp or the Kubernetes client, and a broken optional piece cannot break the others.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from controller.config import DEFAULT_WORKERS


def _installed_version() -> str:
    try:
        return metadata.version("tenantgate")
    except metadata.PackageNotFoundError:
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tenantgate",
        description="Multi-tenant application platform for Kubernetes: validate, mutate, expand.",
    )
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR (default INFO)")
    parser.add_argument("--version", action="version", version=f"tenantgate {_installed_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    dev = sub.add_parser("dev", help="run a local control plane with the platform installed")
    dev.add_argument("--state-dir", type=Path, help="keep the control plane's files here (default: a temp dir)")
    dev.add_argument(
        "--no-platform",
        action="store_true",
        help="start only the control plane (no CRDs, webhook or controller)",
    )
    dev.add_argument("--no-example", action="store_true", help="do not apply the example manifests")
    dev.add_argument(
        "--publishing",
        choices=("http", "crds", "none"),  # tenantgate.devcluster.publishing.BACKENDS, not imported until dev runs
        default="http",
        help="where DNSRecords and Certificates go: local DNS/ACME HTTP providers (http, the default), "
        "external-dns and cert-manager CRDs with local stand-ins of their controllers (crds), or nowhere (none)",
    )
    dev.add_argument(
        "--exit-after-example",
        action="store_true",
        help="stop once the example is applied (a one-shot demonstration)",
    )

    build = sub.add_parser("build-binaries", help="build (when missing) the cached Kubernetes binaries")
    build.add_argument("--print-dir", action="store_true", help="print the binary directory when done")

    crds = sub.add_parser("crds", help="generate the CustomResourceDefinitions from the models")
    crds.add_argument("--output", type=Path, help="write one file per CRD into DIR (default: stdout)")

    chart = sub.add_parser("chart", help="generate the chart's CRDs, webhook configurations and RBAC from the code")
    chart.add_argument("--output", type=Path, help="the chart directory (default: the repository's deploy/chart)")

    webhook = sub.add_parser("webhook", help="serve the admission webhooks over TLS")
    webhook.add_argument("--cert-dir", type=Path, required=True, help="directory holding tls.crt and tls.key")
    webhook.add_argument("--port", type=int, default=8443)
    webhook.add_argument("--host", default="0.0.0.0")
    webhook.add_argument("--kubeconfig", type=Path, help="kubeconfig for the cluster view (default: in-cluster)")
    webhook.add_argument(
        "--client-ca-file",
        type=Path,
        default=os.environ.get("TENANTGATE_CLIENT_CA_FILE") or None,
        help="accept only TLS clients with a certificate from this CA (the API server's; "
        "env TENANTGATE_CLIENT_CA_FILE; see docs/security.md)",
    )
    webhook.add_argument(
        "--drain-grace",
        type=float,
        default=None,
        metavar="SECONDS",
        help="on SIGTERM, how long open keep-alive connections may still carry reviews, each answered with "
        "Connection: close, before idle ones are closed (default 5; see docs/admission.md)",
    )
    webhook.add_argument(
        "--no-cluster-view",
        action="store_true",
        help="serve with an empty cluster view (tests and offline use)",
    )

    controller = sub.add_parser("controller", help="run the companion controller")
    controller.add_argument("--kubeconfig", type=Path, help="kubeconfig (default: in-cluster)")
    controller.add_argument("--workers", type=int, default=DEFAULT_WORKERS)
    controller.add_argument("--namespace", default="tenantgate-system", help="namespace of the leader Lease")
    controller.add_argument("--no-leader-elect", action="store_true")

    certs = sub.add_parser("certs", help="certificate management")
    certs_sub = certs.add_subparsers(dest="certs_command", required=True, metavar="ACTION")
    ensure = certs_sub.add_parser("ensure", help="ensure CA and serving certificate, inject caBundle")
    ensure.add_argument("--namespace", default="tenantgate-system")
    ensure.add_argument("--secret", default="tenantgate-webhook-tls")
    ensure.add_argument("--service", default="tenantgate-webhook")
    ensure.add_argument("--cert-dir", type=Path, help="also write tls.crt, tls.key and ca.crt here")
    ensure.add_argument("--kubeconfig", type=Path)
    ensure.add_argument(
        "--webhook-config",
        action="append",
        default=None,
        help="webhook configuration name to inject the caBundle into (repeatable)",
    )

    review = sub.add_parser("review", help="run mutate then validate on manifests, offline")
    review.add_argument("-f", "--filename", action="append", required=True, help="file, directory or -")
    review.add_argument("--cluster", action="store_true", help="read Tenants/Projects/Namespaces from the cluster")
    review.add_argument("--kubeconfig", type=Path)
    review.add_argument("--as", dest="as_user", help="acting user (default: kubernetes-admin in system:masters)")
    review.add_argument("--as-group", dest="as_groups", action="append", default=None, help="acting group")
    review.add_argument("--output", "-o", choices=["table", "json"], default="table")
    review.add_argument("--operation", choices=["CREATE", "UPDATE"], default="CREATE")

    usage = sub.add_parser("usage", help="print what each tenant's projects consume (Tenant status.usage)")
    usage.add_argument("--tenant", help="only this Tenant (its metadata.name)")
    usage.add_argument("--output", "-o", choices=["table", "json", "csv"], default="table")
    usage.add_argument("--kubeconfig", type=Path)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, str(args.log_level).upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    command: str = args.command
    if command == "dev":
        from tenantgate.dev import run_dev

        return run_dev(args)
    if command == "build-binaries":
        from tenantgate.devcluster.build import ensure_binaries

        bins = ensure_binaries()
        if args.print_dir:
            print(bins.directory)
        return 0
    if command == "crds":
        from crds.generator import run_cli as crds_cli

        return crds_cli(args.output)
    if command == "chart":
        from tenantgate.chart import run_cli as chart_cli

        return chart_cli(args.output)
    if command == "webhook":
        from webhook.cli import run_cli as webhook_cli

        return webhook_cli(args)
    if command == "controller":
        from controller.cli import run_cli as controller_cli

        return controller_cli(args)
    if command == "certs":
        from certs.cli import run_cli as certs_cli

        return certs_cli(args)
    if command == "review":
        from tenantgate.review import run_cli as review_cli

        return review_cli(args)
    if command == "usage":
        from tenantgate.usage import run_cli as usage_cli

        return usage_cli(args)
    raise AssertionError(f"unhandled command {command}")


if __name__ == "__main__":
    sys.exit(main())
