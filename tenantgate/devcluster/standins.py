"""Local stand-ins for external-dns and cert-manager, for `tenantgate dev --publishing crds`.

A local control plane runs no pods, so the real controllers cannot run there; without them, the controller's
DNSEndpoint and cert-manager Certificate children would never report progress. The stand-ins write what the real
controllers write, and nothing more:

- external-dns: `status.observedGeneration` of a DNSEndpoint once it has "published" that generation;
- cert-manager: for a Certificate, a real certificate for `spec.dnsNames` signed by a local issuing CA, stored as
  the `kubernetes.io/tls` Secret `spec.secretName` (with cert-manager's annotations, and owned by the
  Certificate, as cert-manager does with `--enable-certificate-owner-ref`), then the `Ready` condition and the
  validity fields in the Certificate's status. The stand-in acts as every issuer the Certificate may name.

Each decision is a pure function of the objects (`endpoint_status`, `certificate_plan`, `tls_secret`,
`issued_status`); `run_standins` is the thin list+watch loop around them. It runs on a thread of `tenantgate dev`
with its own log file, as a user bound to `STANDIN_RULES` alone.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import aiohttp
from cryptography import x509

from certs.issue import KeyPair, new_ca, new_serving_cert
from kube.client import SECRETS, ApiError, Discovery, KubeClient, load_connection
from kube.informer import Informer
from kube.logfmt import kv
from kube.objects import Obj, annotations_of, generation_of, is_deleting, name_of, namespace_of, split_key, uid_of
from kube.store import Change

log = logging.getLogger(__name__)

CRD_DIRECTORY: Final = Path(__file__).resolve().parent / "crds"
THIRD_PARTY_CRDS: Final = {
    "dnsendpoints.externaldns.k8s.io": CRD_DIRECTORY / "external-dns-dnsendpoint.yaml",
    "certificates.cert-manager.io": CRD_DIRECTORY / "cert-manager-certificate.yaml",
}
"""The minimal external-dns and cert-manager CRDs: the real names and scope, any content accepted."""

DNS_ENDPOINT: Final = ("externaldns.k8s.io/v1alpha1", "DNSEndpoint")
CERTIFICATE: Final = ("cert-manager.io/v1", "Certificate")
STANDIN_USER: Final = "tenantgate-dev-standins"
FIELD_MANAGER: Final = "tenantgate-dev-standins"
STANDIN_RULES: Final[list[dict[str, list[str]]]] = [
    {"apiGroups": ["externaldns.k8s.io"], "resources": ["dnsendpoints"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": ["externaldns.k8s.io"], "resources": ["dnsendpoints/status"], "verbs": ["patch"]},
    {"apiGroups": ["cert-manager.io"], "resources": ["certificates"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": ["cert-manager.io"], "resources": ["certificates/status"], "verbs": ["patch"]},
    {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "create", "patch"]},
]
"""What the stand-ins need, and all they get: read their kinds, write those kinds' status, write TLS Secrets."""

CERTIFICATE_LIFETIME: Final = timedelta(days=90)
READY_MESSAGE: Final = "Certificate is up to date and has not expired"
RETRY_SECONDS: Final = 2.0


# ---- external-dns ---------------------------------------------------------------------------------------------


def endpoint_status(endpoint: Mapping[str, Any]) -> dict[str, Any] | None:
    """The status external-dns writes once it has published the DNSEndpoint's generation (None: nothing to write)."""
    if is_deleting(endpoint):
        return None
    status = endpoint.get("status")
    observed = status.get("observedGeneration") if isinstance(status, Mapping) else None
    generation = generation_of(endpoint)
    return None if observed == generation else {"observedGeneration": generation}


# ---- cert-manager ---------------------------------------------------------------------------------------------


def spec_of(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    spec = obj.get("spec")
    return spec if isinstance(spec, Mapping) else {}


def dns_names(certificate: Mapping[str, Any]) -> list[str]:
    names = spec_of(certificate).get("dnsNames")
    return [str(n) for n in names if isinstance(n, str) and n] if isinstance(names, list) else []


def secret_name(certificate: Mapping[str, Any]) -> str:
    return str(spec_of(certificate).get("secretName") or "")


def ready_condition(certificate: Mapping[str, Any]) -> Mapping[str, Any] | None:
    status = certificate.get("status")
    conditions = status.get("conditions") if isinstance(status, Mapping) else None
    for condition in conditions if isinstance(conditions, list) else []:
        if isinstance(condition, Mapping) and condition.get("type") == "Ready":
            return condition
    return None


@dataclass(frozen=True)
class CertificatePlan:
    issue: bool
    """A new key and certificate are due (no Secret yet, or it was issued for other names)."""
    report: bool
    """The status does not say Ready for the current generation yet."""
    problem: str = ""
    """Why nothing can be issued (reported as Ready=False)."""


def certificate_plan(certificate: Mapping[str, Any], secret: Mapping[str, Any] | None) -> CertificatePlan:
    """What cert-manager would do for `certificate` given its Secret (None: absent). Pure."""
    if is_deleting(certificate):
        return CertificatePlan(issue=False, report=False)
    if not dns_names(certificate) or not secret_name(certificate):
        problem = "spec.dnsNames and spec.secretName are required"
        condition = ready_condition(certificate)
        current = condition is not None and condition.get("message") == problem
        return CertificatePlan(issue=False, report=not current, problem=problem)
    issued_for = annotations_of(secret or {}).get("cert-manager.io/alt-names")
    issue = secret is None or issued_for != ",".join(dns_names(certificate))
    condition = ready_condition(certificate)
    ready_now = (
        condition is not None
        and condition.get("status") == "True"
        and condition.get("observedGeneration") == generation_of(certificate)
    )
    return CertificatePlan(issue=issue, report=issue or not ready_now)


def issue_certificate(ca: KeyPair, certificate: Mapping[str, Any], now: datetime) -> KeyPair:
    """A serving certificate for the Certificate's `spec.dnsNames`, signed by `ca`."""
    return new_serving_cert(ca, dns_names=dns_names(certificate), now=now, lifetime=CERTIFICATE_LIFETIME)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def tls_secret(certificate: Mapping[str, Any], pair: KeyPair, ca_pem: bytes) -> Obj:
    """The `kubernetes.io/tls` Secret cert-manager stores an issued certificate in. Pure."""
    names = dns_names(certificate)
    issuer = spec_of(certificate).get("issuerRef")
    issuer = issuer if isinstance(issuer, Mapping) else {}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": secret_name(certificate),
            "namespace": namespace_of(certificate),
            "labels": {"controller.cert-manager.io/fao": "true"},
            "annotations": {
                "cert-manager.io/alt-names": ",".join(names),
                "cert-manager.io/certificate-name": name_of(certificate),
                "cert-manager.io/common-name": names[0],
                "cert-manager.io/ip-sans": "",
                "cert-manager.io/uri-sans": "",
                "cert-manager.io/issuer-name": str(issuer.get("name") or ""),
                "cert-manager.io/issuer-kind": str(issuer.get("kind") or "Issuer"),
                "cert-manager.io/issuer-group": str(issuer.get("group") or "cert-manager.io"),
            },
            "ownerReferences": [
                {
                    "apiVersion": CERTIFICATE[0],
                    "kind": CERTIFICATE[1],
                    "name": name_of(certificate),
                    "uid": uid_of(certificate),
                    "controller": True,
                    "blockOwnerDeletion": False,
                }
            ],
        },
        "type": "kubernetes.io/tls",
        "data": {"tls.crt": _b64(pair.cert_pem), "tls.key": _b64(pair.key_pem), "ca.crt": _b64(ca_pem)},
    }


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def issued_status(certificate: Mapping[str, Any], cert_pem: bytes, now: datetime) -> dict[str, Any]:
    """cert-manager's status of an issued Certificate: Ready, validity, renewal time and revision. Pure."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
    status = certificate.get("status")
    revision = status.get("revision") if isinstance(status, Mapping) else None
    return {
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "Ready",
                "message": READY_MESSAGE,
                "lastTransitionTime": _rfc3339(now),
                "observedGeneration": generation_of(certificate),
            }
        ],
        "notBefore": _rfc3339(not_before),
        "notAfter": _rfc3339(not_after),
        "renewalTime": _rfc3339(not_before + (not_after - not_before) * 2 / 3),
        "revision": (revision if isinstance(revision, int) else 0) + 1,
    }


def failed_status(certificate: Mapping[str, Any], problem: str, now: datetime) -> dict[str, Any]:
    """Ready=False with cert-manager's reason for a Certificate it cannot act on. Pure."""
    condition = {
        "type": "Ready",
        "status": "False",
        "reason": "Failed",
        "message": problem,
        "lastTransitionTime": _rfc3339(now),
        "observedGeneration": generation_of(certificate),
    }
    return {"conditions": [condition]}


def secret_certificate(secret: Mapping[str, Any]) -> bytes | None:
    data = secret.get("data")
    encoded = data.get("tls.crt") if isinstance(data, Mapping) else None
    return base64.b64decode(encoded) if isinstance(encoded, str) else None


# ---- the loop -------------------------------------------------------------------------------------------------


class _Loop:
    """One list+watch per kind; each change queues the object's key; one worker writes what the plan says."""

    def __init__(self, client: KubeClient, ca: KeyPair) -> None:
        self.client = client
        self.ca = ca
        discovery = Discovery(client, retry_after=5.0)
        self.informers = {
            kind: Informer(client, discovery, *kind, rediscovery_interval=5.0) for kind in (DNS_ENDPOINT, CERTIFICATE)
        }
        self.queue: asyncio.Queue[tuple[tuple[str, str], str]] = asyncio.Queue()
        for kind, informer in self.informers.items():
            informer.add_handler(functools.partial(self._changed, kind))

    def _changed(self, kind: tuple[str, str], change: Change) -> None:
        if change.new is not None:
            self.queue.put_nowait((kind, change.key))

    async def run(self) -> None:
        for informer in self.informers.values():
            informer.start()
        try:
            while True:
                kind, key = await self.queue.get()
                obj = self.informers[kind].get(*split_key(key))
                if obj is None:
                    continue
                try:
                    await self._handle(kind, obj)
                except (ApiError, aiohttp.ClientError, OSError, TimeoutError, ValueError) as error:
                    log.warning(kv("stand-in write failed", kind=kind[1], key=key, error=repr(error)))
                    asyncio.get_running_loop().call_later(RETRY_SECONDS, self.queue.put_nowait, (kind, key))
        finally:
            for informer in self.informers.values():
                await informer.stop()

    async def _handle(self, kind: tuple[str, str], obj: Obj) -> None:
        rt = self.informers[kind].resource
        assert rt is not None
        namespace, name = namespace_of(obj), name_of(obj)
        if kind == DNS_ENDPOINT:
            status = endpoint_status(obj)
            if status is not None:
                await self.client.patch(rt, name, {"status": status}, namespace, subresource="status")
                log.info(kv("external-dns published", namespace=namespace, name=name, **status))
            return
        secret = await self.client.get(SECRETS, secret_name(obj), namespace) if secret_name(obj) else None
        plan = certificate_plan(obj, secret)
        now = datetime.now(UTC)
        if plan.problem and plan.report:
            status = failed_status(obj, plan.problem, now)
            await self.client.patch(rt, name, {"status": status}, namespace, subresource="status")
            log.info(kv("cert-manager refused", namespace=namespace, name=name, problem=plan.problem))
            return
        cert_pem = secret_certificate(secret or {})
        if plan.issue:
            pair = issue_certificate(self.ca, obj, now)
            await self.client.apply(SECRETS, tls_secret(obj, pair, self.ca.cert_pem), FIELD_MANAGER)
            cert_pem = pair.cert_pem
            log.info(kv("cert-manager issued", namespace=namespace, name=name, dnsNames=",".join(dns_names(obj))))
        if plan.report and cert_pem is not None:
            status = issued_status(obj, cert_pem, now)
            await self.client.patch(rt, name, {"status": status}, namespace, subresource="status")


async def run_standins(kubeconfig: Path, ca: KeyPair, stop: asyncio.Event) -> None:
    """Play external-dns and cert-manager on the cluster of `kubeconfig` until `stop` is set."""
    client = KubeClient(load_connection(kubeconfig), user_agent=STANDIN_USER, field_manager=FIELD_MANAGER)
    async with client:
        loop = asyncio.create_task(_Loop(client, ca).run())
        await stop.wait()
        loop.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await loop


def new_issuer(now: datetime | None = None) -> KeyPair:
    """The local issuing CA: every stand-in certificate chains to it (trust its `cert_pem` to verify them)."""
    return new_ca("tenantgate-dev-issuer", now=now or datetime.now(UTC))


class StandIns:
    """`run_standins` on a thread of its own, logging to `log_file`."""

    def __init__(self, kubeconfig: Path, ca: KeyPair, log_file: Path) -> None:
        self.kubeconfig = kubeconfig
        self.ca = ca
        self.log_file = log_file
        self._loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        self._thread = threading.Thread(target=self._run, name="dev-standins", daemon=True)
        self._handler = logging.FileHandler(log_file)
        self._handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))

    def _run(self) -> None:
        self._loop.run_until_complete(run_standins(self.kubeconfig, self.ca, self._stop))

    def start(self) -> StandIns:
        for name in (__name__, "kube.informer"):
            logging.getLogger(name).addHandler(self._handler)
        log.setLevel(logging.INFO)
        log.propagate = False  # its own file, not `dev`'s terminal
        self._thread.start()
        return self

    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(timeout=15)
        for name in (__name__, "kube.informer"):
            logging.getLogger(name).removeHandler(self._handler)
        self._handler.close()


def cluster_role(name: str = STANDIN_USER) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name},
        "rules": STANDIN_RULES,
    }


def cluster_role_binding(name: str = STANDIN_USER, user: str = STANDIN_USER) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
    }
