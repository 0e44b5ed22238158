"""Where `tenantgate dev` publishes DNSRecords and Certificates: `--publishing http`, `crds` or `none`.

- `http`: local DNS and ACME HTTP providers (`tenantgate.devcluster.providers`) on free loopback ports, named to
  the controller by kubeOP's knobs `DNS_MOCK_URL` and `ACME_MOCK_URL`;
- `crds`: the minimal external-dns and cert-manager CRDs, and local stand-ins of both controllers
  (`tenantgate.devcluster.standins`) running as a user bound to their ClusterRole alone;
- `none`: nothing, so both kinds report `Ready=False/DependencyMissing`, as in a cluster with neither.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from tenantgate.devcluster.controlplane import ControlPlane
from tenantgate.devcluster.providers import ACME_API, DNS_API, ThreadedProvider
from tenantgate.devcluster.providers import log as providers_log
from tenantgate.devcluster.standins import (
    STANDIN_USER,
    THIRD_PARTY_CRDS,
    StandIns,
    cluster_role,
    cluster_role_binding,
    new_issuer,
)

BACKENDS: Final = ("http", "crds", "none")
DEFAULT_BACKEND: Final = "http"


@dataclass
class DevPublishing:
    """The chosen backend, started before the controller (which reads `controller_env`) and stopped after it."""

    backend: str
    plane: ControlPlane
    directory: Path
    providers: list[ThreadedProvider] = field(default_factory=list)
    standins: StandIns | None = None
    _log_handler: logging.Handler | None = None

    @property
    def controller_env(self) -> Mapping[str, str]:
        if self.backend != "http":
            return {}
        dns, acme = self.providers
        return {"DNS_MOCK_URL": dns.url, "ACME_MOCK_URL": acme.url}

    def start(self) -> DevPublishing:
        if self.backend not in BACKENDS:
            raise ValueError(f"publishing backend {self.backend!r} is not one of {', '.join(BACKENDS)}")
        self.directory.mkdir(parents=True, exist_ok=True)
        if self.backend == "http":
            self._start_providers()
        elif self.backend == "crds":
            self._start_standins()
        return self

    def _start_providers(self) -> None:
        self._log_handler = logging.FileHandler(self.provider_log)
        self._log_handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        providers_log.addHandler(self._log_handler)
        providers_log.setLevel(logging.INFO)
        providers_log.propagate = False
        for api in (DNS_API, ACME_API):
            provider = ThreadedProvider(api)
            provider.start()
            self.providers.append(provider)

    def _start_standins(self) -> None:
        for path in THIRD_PARTY_CRDS.values():
            self.plane.kubectl("apply", "-f", str(path))
        for crd in THIRD_PARTY_CRDS:
            self.plane.kubectl("wait", "--for=condition=Established", f"crd/{crd}", "--timeout=60s")
        self.plane.kubectl("apply", "-f", "-", stdin=_json_list(cluster_role(), cluster_role_binding()))
        kubeconfig = self.plane.mint_user(STANDIN_USER)
        issuer = new_issuer()
        self.issuer_ca.write_bytes(issuer.cert_pem)
        self.standins = StandIns(kubeconfig, issuer, self.standin_log).start()

    @property
    def provider_log(self) -> Path:
        return self.directory / "providers.log"

    @property
    def standin_log(self) -> Path:
        return self.directory / "standins.log"

    @property
    def issuer_ca(self) -> Path:
        return self.directory / "dev-issuer-ca.crt"

    def describe(self) -> list[str]:
        """What `tenantgate dev` says about the backend, one line each."""
        if self.backend == "http":
            dns, acme = self.providers
            return [
                f"DNS provider at {dns.url}{DNS_API.path}, ACME provider at {acme.url}{ACME_API.path} "
                "(GET lists what each holds)",
                f"provider calls logged in {self.provider_log}",
            ]
        if self.backend == "crds":
            return [
                "external-dns and cert-manager CRDs installed; local stand-ins publish DNSEndpoints and issue "
                f"Certificates from the CA in {self.issuer_ca}",
                f"stand-in log in {self.standin_log}",
            ]
        return ["no publishing backend: DNSRecords and Certificates report DependencyMissing"]

    def exited(self) -> bool:
        """True when a stand-in that was started has stopped by itself."""
        return self.standins is not None and not self.standins.running()

    def stop(self) -> None:
        for provider in self.providers:
            provider.stop()
        self.providers.clear()
        if self.standins is not None:
            self.standins.stop()
        if self._log_handler is not None:
            providers_log.removeHandler(self._log_handler)
            self._log_handler.close()


def _json_list(*objects: Mapping[str, object]) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": list(objects)})
