"""`tenantgate usage`: rows from the Tenants' status, as a table, JSON or CSV."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest

from tenantgate.cli import build_parser
from tenantgate.usage import render, usage_rows

pytestmark = pytest.mark.unit


def tenant(name: str, *projects: tuple[str, dict[str, str]]) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "status": {
            "usage": {
                "projects": [
                    {"project": p, "namespace": f"kubeop-{name}-{p}", "resources": resources}
                    for p, resources in projects
                ]
            }
        },
    }


TENANTS = [
    tenant("globex", ("shop", {"requests.cpu": "2", "pods": "3"})),
    tenant("acme", ("web", {"requests.cpu": "500m", "requests.memory": "1Gi", "pods": "2"}), ("api", {})),
    {"metadata": {"name": "new"}},  # not counted yet
]


def test_rows_are_sorted_and_complete() -> None:
    rows = usage_rows(TENANTS)
    assert [(r["tenant"], r["project"]) for r in rows] == [("acme", "api"), ("acme", "web"), ("globex", "shop")]
    assert rows[1] == {
        "tenant": "acme",
        "project": "web",
        "namespace": "kubeop-acme-web",
        "requests.cpu": "500m",
        "limits.cpu": "0",
        "requests.memory": "1Gi",
        "limits.memory": "0",
        "requests.storage": "0",
        "pods": "2",
    }
    assert [r["project"] for r in usage_rows(TENANTS, "globex")] == ["shop"]
    assert usage_rows(TENANTS, "new") == []


def test_outputs() -> None:
    rows = usage_rows(TENANTS, "acme")
    table = render(rows, "table").splitlines()
    assert table[0].split() == ["TENANT", "PROJECT", "NAMESPACE", "CPU", "REQ", "CPU", "LIM", "MEM", "REQ", "MEM",
                                "LIM", "STORAGE", "PODS"]  # fmt: skip
    assert table[2].split() == ["acme", "web", "kubeop-acme-web", "500m", "0", "1Gi", "0", "0", "2"]
    assert json.loads(render(rows, "json")) == rows
    parsed = list(csv.DictReader(io.StringIO(render(rows, "csv"))))
    assert parsed == rows


def test_the_command_line() -> None:
    args = build_parser().parse_args(["usage", "--tenant", "acme", "-o", "csv"])
    assert (args.command, args.tenant, args.output) == ("usage", "acme", "csv")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["usage", "-o", "yaml"])
