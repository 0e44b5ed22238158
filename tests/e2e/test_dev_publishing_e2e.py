"""kubeOP's EndToEnd_Minimal on the real `tenantgate dev` command, with each publishing backend.

`python -m tenantgate.cli dev --no-example --publishing http|crds` runs as a subprocess (both start at once, to
share the start-up time); once it prints the `KUBECONFIG` line, kubeOP's manifests are applied unchanged with the
real kubectl: Tenant acme, Project web, App web in the Project's namespace, DNSRecord and Certificate web-local.
Both must report `status.ready: true` within 60 s, with nobody playing external-dns or cert-manager but `dev`
itself; deleting them must withdraw what was published; SIGTERM must stop `dev` with exit code 0.
"""

from __future__ import annotations

import base64
import contextlib
import json
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from tenantgate.devcluster import ensure_binaries
from tests.e2e.test_controller_support import REPO, eventually

pytestmark = pytest.mark.e2e

KUBEOP = REPO / "tests" / "fixtures" / "manifests" / "kubeop"
NAMESPACE = "kubeop-acme-web"
OWN_NAMESPACE = "tenantgate-system"
BACKENDS = ("http", "crds")
START_TIMEOUT = 600
READY_TIMEOUT = 60


@dataclass
class Dev:
    """A `tenantgate dev` process and everything it has printed so far."""

    backend: str
    state_dir: Path
    popen: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)

    def read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.lines.append(line.rstrip("\n"))

    def printed(self, marker: str, timeout: float = START_TIMEOUT) -> str:
        """The rest of the first line containing `marker`, waiting for it."""

        def find() -> str | None:
            for line in self.lines:
                if marker in line:
                    return line.split(marker, 1)[1].strip()
            assert self.popen.poll() is None, f"dev exited with {self.popen.returncode}:\n" + "\n".join(self.lines)
            return None

        found: str = eventually(find, timeout=timeout, interval=0.5, what=f"dev printing {marker!r}")
        return found

    @property
    def kubeconfig(self) -> str:
        return self.printed("export KUBECONFIG=")

    def kubectl(self, *args: str, check: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        argv = [str(ensure_binaries().kubectl), f"--kubeconfig={self.kubeconfig}", *args]
        result = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=120)
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed: {result.stderr}")
        return result

    def get(self, *args: str) -> dict[str, Any] | None:
        result = self.kubectl("get", *args, "-o", "json", check=False)
        return json.loads(result.stdout) if result.returncode == 0 else None

    def log(self, name: str) -> str:
        path = self.state_dir / "tenantgate" / name
        return path.read_text(errors="replace") if path.exists() else ""


@pytest.fixture(scope="module")
def devs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Dev]]:
    started: dict[str, Dev] = {}
    for backend in BACKENDS:
        state_dir = tmp_path_factory.mktemp(f"dev-{backend}")
        command = [
            *(sys.executable, "-m", "tenantgate.cli", "dev", "--no-example"),
            *("--publishing", backend, "--state-dir", str(state_dir)),
        ]
        popen = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        dev = Dev(backend, state_dir, popen)
        threading.Thread(target=dev.read, daemon=True).start()
        started[backend] = dev
    yield started
    for dev in started.values():
        if dev.popen.poll() is None:
            dev.popen.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                dev.popen.wait(timeout=120)
        if dev.popen.poll() is None:
            dev.popen.kill()


def ready(dev: Dev, resource: str) -> bool:
    return ((dev.get(resource, "web-local") or {}).get("status") or {}).get("ready") is True


def held(url: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(url, timeout=5) as response:  # loopback only
        items: list[dict[str, Any]] = json.loads(response.read())["items"]
        return items


def apply_end_to_end_minimal(dev: Dev) -> float:
    """kubeOP's manifests, unchanged; returns when the DNSRecord and Certificate were applied."""
    dev.kubectl("apply", "-f", str(KUBEOP / "tenant-minimal.yaml"), "-f", str(KUBEOP / "project.yaml"))
    eventually(lambda: dev.get("namespace", NAMESPACE), timeout=90, what=f"namespace {NAMESPACE}")
    dev.kubectl("apply", "-n", NAMESPACE, "-f", str(KUBEOP / "app-image.yaml"))
    applied = time.monotonic()
    dev.kubectl("apply", "-f", str(KUBEOP / "dnsrecord.yaml"), "-f", str(KUBEOP / "certificate.yaml"))
    return applied


def delete_record_and_certificate(dev: Dev) -> None:
    dev.kubectl("delete", "certificates.paas.kubeop.io", "web-local", "--wait=false")
    dev.kubectl("delete", "dnsrecords.paas.kubeop.io", "web-local", "--wait=false")
    eventually(
        lambda: (
            dev.get("certificates.paas.kubeop.io", "web-local") is None
            and dev.get("dnsrecords.paas.kubeop.io", "web-local") is None
        ),
        what="DNSRecord and Certificate deleted",
    )


def stop(dev: Dev) -> None:
    dev.popen.send_signal(signal.SIGTERM)
    assert dev.popen.wait(timeout=120) == 0, "\n".join(dev.lines)
    assert "stopping" in dev.lines[-1] or any("stopping" in line for line in dev.lines)


@pytest.mark.parametrize("backend", BACKENDS)
def test_dev_runs_kubeops_end_to_end_minimal(devs: dict[str, Dev], backend: str) -> None:
    dev = devs[backend]
    applied = apply_end_to_end_minimal(dev)
    for resource in ("dnsrecords.paas.kubeop.io", "certificates.paas.kubeop.io"):
        eventually(lambda r=resource: ready(dev, r), timeout=READY_TIMEOUT, what=f"{resource} ready")
    print(
        f"tenantgate dev --publishing {backend}: DNSRecord and Certificate ready in {time.monotonic() - applied:.1f}s"
    )

    if backend == "http":
        check_http_providers(dev)
    else:
        check_stand_ins(dev)
    stop(dev)


def check_http_providers(dev: Dev) -> None:
    dns_url = dev.printed("DNS provider at ").split(",")[0]
    acme_url = dev.printed("ACME provider at ").split()[0]
    [record] = held(dns_url)
    assert (record["record"], record["host"], record["target"], record["type"]) == (
        "web-local",
        "web.local",
        "10.0.0.10",
        "A",
    )
    [certificate] = held(acme_url)
    assert (certificate["certificate"], certificate["host"]) == ("web-local", "web.local")
    assert "provider=dns method=POST path=/v1/dnsrecords status=200 action=upsert" in dev.log("providers.log")

    # A host leaves tenantgate in the form admission judged it in.
    shouted = {"apiVersion": "paas.kubeop.io/v1alpha1", "kind": "DNSRecord", "metadata": {"name": "web-shouted"}}
    shouted["spec"] = {"host": "WEB.Local.", "target": "10.0.0.10"}
    dev.kubectl("apply", "-f", "-", stdin=json.dumps(shouted))
    published = eventually(
        lambda: [r for r in held(dns_url) if r["record"] == "web-shouted"], what="web-shouted published"
    )
    assert published[0]["host"] == "web.local"
    dev.kubectl("delete", "dnsrecords.paas.kubeop.io", "web-shouted", "--wait=false")

    delete_record_and_certificate(dev)
    eventually(lambda: dev.get("dnsrecords.paas.kubeop.io", "web-shouted") is None, what="web-shouted deleted")
    assert held(dns_url) == []
    assert held(acme_url) == []
    assert "action=delete name=web-local" in dev.log("providers.log")


def check_stand_ins(dev: Dev) -> None:
    endpoint = dev.get("dnsendpoints.externaldns.k8s.io", "web-local", "-n", OWN_NAMESPACE) or {}
    assert endpoint["status"]["observedGeneration"] == endpoint["metadata"]["generation"]
    requested = dev.get("certificates.cert-manager.io", "web-local", "-n", OWN_NAMESPACE) or {}
    assert requested["spec"]["dnsNames"] == ["web.local"]
    secret = dev.get("secret", requested["spec"]["secretName"], "-n", OWN_NAMESPACE) or {}
    assert secret["type"] == "kubernetes.io/tls"
    leaf = x509.load_pem_x509_certificate(base64.b64decode(secret["data"]["tls.crt"]))
    issuer = x509.load_pem_x509_certificate(Path(dev.printed("Certificates from the CA in ")).read_bytes())
    leaf.verify_directly_issued_by(issuer)
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["web.local"]
    assert "cert-manager issued" in dev.log("standins.log")

    delete_record_and_certificate(dev)
    eventually(
        lambda: (
            dev.get("dnsendpoints.externaldns.k8s.io", "web-local", "-n", OWN_NAMESPACE) is None
            and dev.get("certificates.cert-manager.io", "web-local", "-n", OWN_NAMESPACE) is None
            and dev.get("secret", "web-local-tls", "-n", OWN_NAMESPACE) is None
        ),
        what="DNSEndpoint, cert-manager Certificate and its Secret gone",
    )
