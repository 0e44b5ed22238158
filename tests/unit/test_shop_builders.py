"""Shop builders: the children shop-operator builds for the same Shop, with its names, env and defaults."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from controller.reconcilers import shop_builders as s

pytestmark = pytest.mark.unit

CONNECTION = {"uri": base64.b64encode(b"postgres://x").decode()}


def make_shop(name: str = "demo", **spec: Any) -> dict[str, Any]:
    body = {"title": "Demo", "availability": "standard", "database": "postgres", "walletAddress": "0xabc", **spec}
    return {
        "apiVersion": "apps.shophub.local/v1",
        "kind": "Shop",
        "metadata": {"name": name, "namespace": "shops", "uid": "u-1", "generation": 3},
        "spec": body,
    }


def inputs(**overrides: Any) -> s.ShopInputs:
    values: dict[str, Any] = {
        "connection_data": CONNECTION,
        "admin_data": s.secret_data("a" * 32),
        "mongo_password_data": s.secret_data("b" * 32),
    }
    values.update(overrides)
    return s.ShopInputs(**values)


def by_kind(children: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {child["kind"]: child for child in children}


def container(shop: dict[str, Any], **kw: Any) -> dict[str, Any]:
    deployment = s.deployment(shop, inputs(**kw))
    [found] = deployment["spec"]["template"]["spec"]["containers"]
    return found


@pytest.mark.parametrize(
    ("spec", "replicas"),
    [({}, 2), ({"availability": "high"}, 3), ({"availability": "high", "replicas": 5}, 5), ({"replicas": 0}, 0)],
)
def test_replicas_follow_availability_unless_explicit(spec: dict[str, Any], replicas: int) -> None:
    assert s.deployment(make_shop(**spec), inputs())["spec"]["replicas"] == replicas


@pytest.mark.parametrize(("database", "key"), [("postgres", "uri"), ("mongodb", "connectionString.standard")])
def test_database_url_comes_from_the_operator_secret(database: str, key: str) -> None:
    env = container(make_shop(database=database))["env"]
    assert env[0] == {"name": "DATABASE_URL", "valueFrom": {"secretKeyRef": {"name": "demo-app", "key": key}}}


def test_env_is_in_upstream_order_without_discord() -> None:
    env = container(make_shop())["env"]
    assert [e["name"] for e in env] == [
        "DATABASE_URL",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_SERVICE_NAME",
        "WALLET_ADDRESS",
        "SHOP_DB_NAME",
        "ADMIN_PASSWORD",
    ]
    values = {e["name"]: e.get("value") for e in env}
    assert values["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://tempo.monitoring.svc.cluster.local:4318"
    assert values["OTEL_SERVICE_NAME"] == "demo"
    assert values["WALLET_ADDRESS"] == "0xabc"
    assert env[5]["valueFrom"]["secretKeyRef"] == {"name": "demo-admin", "key": "password"}


def test_discord_webhook_env_is_optional_and_last() -> None:
    env = container(make_shop(discordWebhookSecretRef={"name": "alerts-webhook", "namespace": "elsewhere"}))["env"]
    assert env[-1] == {
        "name": "DISCORD_WEBHOOK_URL",
        "valueFrom": {"secretKeyRef": {"name": "alerts-webhook", "key": "webhook-url", "optional": True}},
    }


def test_container_port_probes_and_image() -> None:
    found = container(make_shop())
    assert found["name"] == "shop"
    assert found["image"] == "docker.io/urospetraskovic/shop-backend:main"
    assert found["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert found["livenessProbe"]["httpGet"] == {"path": "/probe/liveness", "port": "http"}
    assert (found["readinessProbe"]["initialDelaySeconds"], found["readinessProbe"]["periodSeconds"]) == (3, 5)
    custom = s.ShopSettings(default_image="ghcr.io/acme/shop:1")
    assert container(make_shop(), settings=custom)["image"] == "ghcr.io/acme/shop:1"
    assert container(make_shop(image="ghcr.io/acme/other:2"), settings=custom)["image"] == "ghcr.io/acme/other:2"


def test_settings_from_environment() -> None:
    assert s.shop_settings({}) == s.ShopSettings()
    settings = s.shop_settings(
        {"DEFAULT_SHOP_IMAGE": "x:1", "INGRESS_BASE_DOMAIN": "shops.io", "INGRESS_URL_PORT": ":8080"}
    )
    assert s.shop_url("demo", settings) == "http://demo.shops.io:8080"
    assert s.ingress(make_shop(), settings)["spec"]["rules"][0]["host"] == "demo.shops.io"


def test_credential_change_changes_the_pod_template_hash() -> None:
    shop = make_shop()
    first = s.deployment(shop, inputs())["spec"]["template"]["metadata"]["annotations"]
    again = s.deployment(shop, inputs())["spec"]["template"]["metadata"]["annotations"]
    rotated = s.deployment(shop, inputs(admin_data=s.secret_data("c" * 32)))["spec"]["template"]["metadata"]
    assert first == again
    assert rotated["annotations"] != first


def test_service_and_ingress_shape() -> None:
    children = by_kind(s.desired_children(make_shop(), inputs()))
    service = children["Service"]
    assert service["metadata"]["labels"] == {"app": "demo"}
    assert service["spec"]["ports"] == [{"name": "http", "port": 8080, "targetPort": "http", "protocol": "TCP"}]
    rule = children["Ingress"]["spec"]["rules"][0]
    assert rule["host"] == "demo.localhost"
    assert rule["http"]["paths"][0]["backend"] == {"service": {"name": "demo", "port": {"number": 8080}}}
    monitor = children["ServiceMonitor"]
    assert monitor["metadata"]["labels"] == {"release": "kube-prometheus-stack"}
    assert monitor["spec"]["endpoints"] == [{"port": "http", "path": "/metrics", "interval": "15s"}]


def test_postgres_cluster_has_upstream_initdb() -> None:
    cluster = s.database_children(make_shop(), inputs())[0]
    assert cluster["apiVersion"] == "postgresql.cnpg.io/v1"
    initdb = cluster["spec"]["bootstrap"]["initdb"]
    assert (initdb["database"], initdb["owner"]) == ("demo", "demo")
    assert initdb["postInitApplicationSQL"][1] == 'ALTER TABLE items OWNER TO "demo"'
    assert initdb["postInitApplicationSQL"][3] == 'ALTER TABLE orders OWNER TO "demo"'
    assert cluster["spec"]["storage"] == {"size": "1Gi"}


def test_mongodb_children_and_shared_rbac() -> None:
    secret, mongo = s.database_children(make_shop(database="mongodb"), inputs())
    assert secret["metadata"]["name"] == "demo-mongo-pw"
    assert base64.b64decode(secret["data"]["password"]).decode() == "b" * 32
    [user] = mongo["spec"]["users"]
    assert user["connectionStringSecretName"] == "demo-app"
    assert user["passwordSecretRef"] == {"name": "demo-mongo-pw", "key": "password"}
    assert mongo["spec"]["version"] == "6.0.5"
    account, role, binding = s.mongodb_shared_rbac("shops")
    assert {o["metadata"]["name"] for o in (account, role, binding)} == {"mongodb-database"}
    assert role["rules"][1]["verbs"] == ["patch", "delete", "get"]


def test_shared_rbac_gets_one_non_controller_reference_per_shop() -> None:
    first = s.with_owner(None, make_shop())
    assert first == [{"apiVersion": "apps.shophub.local/v1", "kind": "Shop", "name": "demo", "uid": "u-1"}]
    live = {"metadata": {"ownerReferences": first}}
    assert s.with_owner(live, make_shop()) is None
    other = make_shop("other")
    other["metadata"]["uid"] = "u-2"
    assert [r["uid"] for r in s.with_owner(live, other) or []] == ["u-1", "u-2"]


def test_passwords_are_32_hex() -> None:
    password = s.new_password()
    assert len(password) == 32
    int(password, 16)
    assert s.new_password() != password


def test_alertmanager_config_has_exactly_one_matcher_and_only_with_a_reference() -> None:
    assert "AlertmanagerConfig" not in by_kind(s.desired_children(make_shop(), inputs()))
    shop = make_shop(discordWebhookSecretRef={"name": "alerts-webhook"})
    config = by_kind(s.desired_children(shop, inputs()))["AlertmanagerConfig"]
    assert config["spec"]["route"]["matchers"] == [{"name": "service", "value": "demo", "matchType": "="}]
    [receiver] = config["spec"]["receivers"]
    assert receiver["discordConfigs"][0]["apiURL"] == {"name": "alerts-webhook", "key": "webhook-url"}


def test_missing_best_effort_kinds_are_skipped() -> None:
    shop = make_shop(discordWebhookSecretRef={"name": "alerts-webhook"})
    kinds = by_kind(s.desired_children(shop, inputs(include_best_effort=frozenset())))
    assert "ServiceMonitor" not in kinds
    assert "AlertmanagerConfig" not in kinds
    assert "Deployment" in kinds


def test_only_the_database_is_built_before_the_connection_secret() -> None:
    assert [c["kind"] for c in s.desired_children(make_shop(), inputs(connection_data=None))] == ["Cluster"]


@pytest.mark.parametrize(
    ("name", "shop"), [("demo-app", "demo"), ("my-shop-app", "my-shop"), ("demo", None), ("-app", None)]
)
def test_connection_secret_maps_to_its_shop(name: str, shop: str | None) -> None:
    assert s.shop_for_secret(name) == shop


def test_webhook_secret_index() -> None:
    assert s.index_by_webhook_secret(make_shop()) == []
    assert s.index_by_webhook_secret(make_shop(discordWebhookSecretRef={"name": "w"})) == ["shops/w"]
