"""The Authorization header is taken from the official client's configuration, not recomputed per request."""

from __future__ import annotations

from typing import Any

from kube.client import connection_from_configuration


class CountingConfiguration:
    """The parts of `kubernetes.client.Configuration` a Connection reads, counting refreshes of the token."""

    verify_ssl = False
    ssl_ca_cert = None
    cert_file = None
    key_file = None
    host = "https://127.0.0.1:6443"

    def __init__(self) -> None:
        self.refreshes = 0
        self.token = "Bearer first"

    def auth_settings(self) -> dict[str, Any]:
        self.refreshes += 1  # the official client runs its refresh hook here, re-applying the kubeconfig
        return {"BearerToken": {"value": self.token}}

    def get_basic_auth_token(self) -> str | None:
        return None


def test_header_is_reused_between_refreshes() -> None:
    configuration = CountingConfiguration()
    now = [100.0]
    connection = connection_from_configuration(configuration, clock=lambda: now[0], refresh_seconds=10.0)
    headers = [connection.auth_header() for _ in range(1_000)]
    assert set(headers) == {"Bearer first"}
    assert configuration.refreshes == 1


def test_header_follows_a_rotated_token_after_the_refresh_interval() -> None:
    configuration = CountingConfiguration()
    now = [100.0]
    connection = connection_from_configuration(configuration, clock=lambda: now[0], refresh_seconds=10.0)
    assert connection.auth_header() == "Bearer first"
    configuration.token = "Bearer second"
    now[0] += 9.9
    assert connection.auth_header() == "Bearer first"
    now[0] += 0.1
    assert connection.auth_header() == "Bearer second"
    assert configuration.refreshes == 2
