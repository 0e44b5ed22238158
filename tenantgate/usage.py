"""`tenantgate usage [--tenant NAME] [--output table|json|csv]`: what each tenant's projects consume, from the
cluster.

It prints the Tenants' `status.usage.projects` as the controller keeps it (the same numbers the gauge
`tenantgate_tenant_usage` exports), one row per project: requests and limits of CPU and memory, storage requests
and pods. Reading status rather than recounting pods keeps the command cheap and its answer equal to the
controller's; a Tenant the controller has not counted yet has no rows.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, TextIO

from controller.usage import USAGE_RESOURCES
from crds.kubeop import GROUP, VERSION
from kube.client import Discovery, KubeClient, load_connection
from kube.errors import cluster_errors

COLUMNS: Final = ("tenant", "project", "namespace", *USAGE_RESOURCES)
HEADINGS: Final = ("TENANT", "PROJECT", "NAMESPACE", "CPU REQ", "CPU LIM", "MEM REQ", "MEM LIM", "STORAGE", "PODS")
TIMEOUT_SECONDS: Final = 30.0


def usage_rows(tenants: Iterable[Mapping[str, Any]], only: str | None = None) -> list[dict[str, str]]:
    """One row per (tenant, project), sorted; values as the status holds them ("0" when absent). Pure."""
    rows = []
    for tenant in tenants:
        name = str((tenant.get("metadata") or {}).get("name") or "")
        if only is not None and name != only:
            continue
        usage = ((tenant.get("status") or {}).get("usage") or {}) if isinstance(tenant.get("status"), dict) else {}
        for entry in usage.get("projects") or []:
            resources = entry.get("resources") or {}
            row = {
                "tenant": name,
                "project": str(entry.get("project", "")),
                "namespace": str(entry.get("namespace", "")),
            }
            row.update({resource: str(resources.get(resource, "0")) for resource in USAGE_RESOURCES})
            rows.append(row)
    return sorted(rows, key=lambda r: (r["tenant"], r["project"]))


def render(rows: Sequence[Mapping[str, str]], output: str) -> str:
    if output == "json":
        return json.dumps(list(rows), indent=2) + "\n"
    if output == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return buffer.getvalue()
    table = [HEADINGS, *([row[c] for c in COLUMNS] for row in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS))]
    return "".join(
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip() + "\n" for line in table
    )


async def read_tenants(kubeconfig: Path | None) -> list[dict[str, Any]]:
    connection = load_connection(kubeconfig)
    async with KubeClient(connection, user_agent="tenantgate-usage", field_manager="tenantgate") as client:
        resource = await Discovery(client).resolve(f"{GROUP}/{VERSION}", "Tenant")
        items, _ = await client.list(resource)
        return items


def run_cli(args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    only: str | None = args.tenant
    unreachable: tuple[type[BaseException], ...] = (*cluster_errors(), TimeoutError)
    try:
        tenants = asyncio.run(asyncio.wait_for(read_tenants(args.kubeconfig), TIMEOUT_SECONDS))
    except unreachable as exc:
        print(f"error: cannot read Tenants from the cluster: {exc or 'no answer'}", file=err)
        return 2
    if only is not None and not any((t.get("metadata") or {}).get("name") == only for t in tenants):
        print(f"error: Tenant {only!r} does not exist", file=err)
        return 1
    out.write(render(usage_rows(tenants, only), args.output))
    return 0
