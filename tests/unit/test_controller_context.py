"""A Context writes the status of its controller's primary kind, and only when the wanted status differs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from controller.context import Context
from controller.metrics import Metrics
from controller.status import StatusWriter
from kube.client import Discovery, ResourceType
from kube.informer import Informer

pytestmark = pytest.mark.unit

PROJECTS = ResourceType("paas.kubeop.io", "v1alpha1", "Project", "projects", False)


@dataclass
class FakeClient:
    metrics: Metrics = field(default_factory=Metrics)
    patches: list[tuple[str, str, dict[str, Any], str]] = field(default_factory=list)

    async def patch(
        self, rt: ResourceType, name: str, body: dict[str, Any], namespace: str = "", **options: Any
    ) -> dict[str, Any]:
        self.patches.append((rt.plural, name, body, options.get("subresource", "")))
        return {"metadata": {"name": name, "resourceVersion": "2"}, "status": body["status"]}


@dataclass
class FakeDiscovery:
    asked: list[tuple[str, str]] = field(default_factory=list)

    async def resolve(self, api_version: str, kind: str) -> ResourceType:
        self.asked.append((api_version, kind))
        return PROJECTS


def context(resolved: bool) -> tuple[Context, FakeClient, FakeDiscovery, Informer]:
    client, discovery = FakeClient(), FakeDiscovery()
    primary = Informer(client, Discovery(client), PROJECTS.api_version, PROJECTS.kind)  # type: ignore[arg-type]
    primary.resource = PROJECTS if resolved else None
    ctx = Context(None, client, discovery, None, StatusWriter(client), None, primary)  # type: ignore[arg-type]
    return ctx, client, discovery, primary


def project() -> dict[str, Any]:
    return {
        "apiVersion": PROJECTS.api_version,
        "kind": "Project",
        "metadata": {"name": "web", "resourceVersion": "1"},
        "status": {"ready": False},
    }


async def test_writes_the_primary_kinds_status_subresource_and_caches_the_answer() -> None:
    ctx, client, discovery, primary = context(resolved=True)
    assert await ctx.write_status(project(), {"ready": True})
    assert client.patches == [("projects", "web", {"status": {"ready": True}}, "status")]
    assert discovery.asked == []
    cached = primary.get("", "web")
    assert cached is not None
    assert cached["status"] == {"ready": True}


async def test_writes_nothing_when_the_status_is_already_as_wanted() -> None:
    ctx, client, _, _ = context(resolved=True)
    assert not await ctx.write_status(project(), {"ready": False})
    assert client.patches == []


async def test_asks_discovery_for_a_primary_kind_its_informer_has_not_resolved() -> None:
    ctx, client, discovery, _ = context(resolved=False)
    assert await ctx.primary_resource() == PROJECTS
    assert await ctx.write_status(project(), {"ready": True})
    assert discovery.asked == [(PROJECTS.api_version, PROJECTS.kind)] * 2
    assert len(client.patches) == 1
