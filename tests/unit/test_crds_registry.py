"""Every kind is served under upstream's names, scope and subresources, and resolves both ways."""

from __future__ import annotations

import pytest

from crds import registry
from crds.common import KindInfo

pytestmark = pytest.mark.unit

# group, version, kind, plural, singular, short names, categories, scope, printer column names
UPSTREAM = [
    (
        "apps.shophub.local",
        "v1",
        "Shop",
        "shops",
        "shop",
        ("sh",),
        ("shophub",),
        "Namespaced",
        ("TITLE", "DB", "AVAILABILITY", "READY", "URL", "AGE"),
    ),
    (
        "notify.shophub.local",
        "v1",
        "DiscordChannel",
        "discordchannels",
        "discordchannel",
        ("dc",),
        ("shophub",),
        "Namespaced",
        ("GUILD", "NAME", "CHANNEL", "AGE"),
    ),
    (
        "payments.shophub.local",
        "v1",
        "Wallet",
        "wallets",
        "wallet",
        ("wlt",),
        ("shophub",),
        "Namespaced",
        ("NETWORK", "ADDRESS", "AGE"),
    ),
    ("paas.kubeop.io", "v1alpha1", "Tenant", "tenants", "tenant", ("ten",), (), "Cluster", ("Ready", "Age")),
    (
        "paas.kubeop.io",
        "v1alpha1",
        "Project",
        "projects",
        "project",
        ("proj",),
        (),
        "Cluster",
        ("Namespace", "Ready", "Age"),
    ),
    (
        "paas.kubeop.io",
        "v1alpha1",
        "App",
        "apps",
        "app",
        (),
        (),
        "Namespaced",
        ("Type", "Host", "Revision", "Ready", "Age"),
    ),
    ("paas.kubeop.io", "v1alpha1", "DNSRecord", "dnsrecords", "dnsrecord", (), (), "Cluster", ("Host", "Ready", "Age")),
    (
        "paas.kubeop.io",
        "v1alpha1",
        "Certificate",
        "certificates",
        "certificate",
        (),
        (),
        "Cluster",
        ("Host", "Ready", "Age"),
    ),
    ("paas.kubeop.io", "v1alpha1", "Policy", "policies", "policy", (), (), "Cluster", ("Age",)),
    ("paas.kubeop.io", "v1alpha1", "Registry", "registries", "registry", (), (), "Cluster", ("Host", "Age")),
    (
        "thismatters.github",
        "v1alpha",
        "Django",
        "djangos",
        "django",
        (),
        (),
        "Namespaced",
        ("Status", "Version", "Age"),
    ),
    ("blindage.org", "v2", "Django", "djangos", "django", (), (), "Namespaced", ("Age",)),
]


def test_serves_exactly_the_twelve_upstream_kinds() -> None:
    assert {(info.group, info.kind) for info in registry.KINDS} == {(row[0], row[2]) for row in UPSTREAM}


@pytest.mark.parametrize(
    ("group", "version", "kind", "plural", "singular", "short_names", "categories", "scope", "columns"),
    UPSTREAM,
    ids=[f"{row[2]}.{row[0]}" for row in UPSTREAM],
)
def test_kind_keeps_upstream_names(
    group: str,
    version: str,
    kind: str,
    plural: str,
    singular: str,
    short_names: tuple[str, ...],
    categories: tuple[str, ...],
    scope: str,
    columns: tuple[str, ...],
) -> None:
    info = registry.by_kind(group, kind)
    assert info is not None
    assert (info.version, info.plural, info.singular) == (version, plural, singular)
    assert (info.short_names, info.categories, info.scope) == (short_names, categories, scope)
    names = [column.name for column in info.printer_columns]
    assert [name for name in names if name in columns] == list(columns), "upstream columns keep their order"
    assert registry.by_resource(group, version, plural) is info
    assert registry.by_api_version(f"{group}/{version}", kind) is info


@pytest.mark.parametrize("info", registry.KINDS, ids=[info.crd_name for info in registry.KINDS])
def test_every_kind_has_status_subresource_and_a_ready_like_column(info: KindInfo) -> None:
    assert info.status_subresource
    paths = [column.json_path for column in info.printer_columns]
    assert any("status" in path for path in paths), "a column shows observed state"
    assert info.status_model is not None
    assert "conditions" in info.status_model.model_fields


def test_shop_has_scale_subresource_on_replicas() -> None:
    info = registry.require("apps.shophub.local", "Shop")
    assert info.scale is not None
    assert (info.scale.spec_replicas_path, info.scale.status_replicas_path, info.scale.label_selector_path) == (
        ".spec.replicas",
        ".status.readyReplicas",
        ".status.selector",
    )


@pytest.mark.parametrize(
    ("group", "kind", "required"),
    [
        ("apps.shophub.local", "Shop", True),
        ("notify.shophub.local", "DiscordChannel", True),
        ("payments.shophub.local", "Wallet", True),
        ("paas.kubeop.io", "Project", True),
        ("paas.kubeop.io", "Policy", False),
        ("thismatters.github", "Django", False),
        ("blindage.org", "Django", True),
    ],
)
def test_spec_requirement(group: str, kind: str, required: bool) -> None:
    assert registry.require(group, kind).spec_required is required


def test_unknown_lookups_return_none_or_raise() -> None:
    assert registry.by_kind("apps.shophub.local", "Store") is None
    assert registry.by_resource("apps.shophub.local", "v2", "shops") is None
    with pytest.raises(registry.UnknownKindError):
        registry.require("example.com", "Thing")


def test_groups_are_listed_once() -> None:
    assert registry.groups() == (
        "apps.shophub.local",
        "blindage.org",
        "notify.shophub.local",
        "paas.kubeop.io",
        "payments.shophub.local",
        "thismatters.github",
    )
