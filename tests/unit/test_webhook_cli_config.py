"""`tenantgate webhook` options reach the server's settings; options left out keep the server's defaults."""

from __future__ import annotations

import argparse
from pathlib import Path

from tenantgate.cli import build_parser
from webhook.cli import server_config
from webhook.server import ServerConfig


def test_drain_grace_reaches_the_server_and_defaults_to_the_servers_own() -> None:
    args = build_parser().parse_args(["webhook", "--cert-dir", "/certs", "--port", "9443", "--drain-grace", "0"])
    config = server_config(args)
    assert (config.drain_grace, config.port, config.cert_file) == (0.0, 9443, Path("/certs/tls.crt"))
    default = server_config(build_parser().parse_args(["webhook", "--cert-dir", "/certs"]))
    assert default.drain_grace == ServerConfig.drain_grace == 5.0


def test_a_namespace_without_the_newer_options_still_configures_a_server() -> None:
    args = argparse.Namespace(cert_dir=Path("/certs"), host="127.0.0.1", port=8443)
    config = server_config(args)
    assert (config.client_ca_file, config.drain_grace) == (None, ServerConfig.drain_grace)
