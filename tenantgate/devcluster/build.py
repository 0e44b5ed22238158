"""Build the local control plane's binaries from Go modules, once, into a cache outside the repository.

No package registry reachable here ships kube-apiserver or kube-controller-manager, and a kubectl already on a
machine may be outside the version skew, so all of them are compiled from `k8s.io/kubernetes` through the Go
module proxy. `k8s.io/kubernetes` cannot be required as-is: its staging modules are pinned at `v0.0.0` with
`replace` lines that do not apply to dependants, so a small wrapper module replaces each of them with its
published `v0.x` tag. etcd and helm come from their own modules. Builds happen only when a binary is missing,
under a file lock so that concurrent test sessions build once.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

KUBERNETES_VERSION = "v1.34.12"
ETCD_VERSION = "v3.6.16"
HELM_VERSION = "v3.22.0"

KUBERNETES_COMMANDS = ("kube-apiserver", "kube-controller-manager", "kubectl")
ALL_BINARIES = (*KUBERNETES_COMMANDS, "etcd", "helm")

# Rough cold-build times on two cores, printed so a first run does not look hung.
COLD_BUILD_MINUTES = {"kubernetes": 8, "etcd": 1, "helm": 2}


@dataclass(frozen=True)
class Binaries:
    """Paths of the cached binaries for one pinned Kubernetes version."""

    directory: Path

    def path(self, name: str) -> Path:
        return self.directory / name

    @property
    def kube_apiserver(self) -> Path:
        return self.path("kube-apiserver")

    @property
    def kube_controller_manager(self) -> Path:
        return self.path("kube-controller-manager")

    @property
    def kubectl(self) -> Path:
        return self.path("kubectl")

    @property
    def etcd(self) -> Path:
        return self.path("etcd")

    @property
    def helm(self) -> Path:
        return self.path("helm")


def cache_root() -> Path:
    override = os.environ.get("TENANTGATE_CACHE")
    return Path(override) if override else Path.home() / ".cache" / "tenantgate"


def binaries_dir(root: Path | None = None) -> Path:
    return (root or cache_root()) / "bin" / KUBERNETES_VERSION


def staging_version(kubernetes_version: str) -> str:
    """`v1.34.12` -> `v0.34.12`: staging modules are tagged with the major version shifted to 0."""
    match = re.fullmatch(r"v1\.(\d+)\.(\d+)", kubernetes_version)
    if not match:
        raise ValueError(f"not a Kubernetes release version: {kubernetes_version!r}")
    return f"v0.{match.group(1)}.{match.group(2)}"


def staging_modules(kubernetes_go_mod: str) -> list[str]:
    """Module paths that k8s.io/kubernetes maps onto its own `staging/` tree."""
    pattern = re.compile(r"^\s*(k8s\.io/[\w.-]+)\s+=>\s+\./staging/src/", re.MULTILINE)
    return sorted(set(pattern.findall(kubernetes_go_mod)))


def kubernetes_wrapper_go_mod(kubernetes_version: str, modules: list[str], go_directive: str) -> str:
    staging = staging_version(kubernetes_version)
    replaces = "\n".join(f"\t{m} => {m} {staging}" for m in modules)
    return (
        "module tenantgate.local/k8s-binaries\n\n"
        f"go {go_directive}\n\n"
        "godebug default=go1.24\n\n"
        f"require k8s.io/kubernetes {kubernetes_version}\n\n"
        f"replace (\n{replaces}\n)\n"
    )


KUBERNETES_TOOLS_GO = """//go:build tools

// Package tools keeps the commands' packages in the module graph so that `go mod tidy` keeps them.
package tools

import (
\t_ "k8s.io/kubernetes/cmd/kube-apiserver"
\t_ "k8s.io/kubernetes/cmd/kube-controller-manager"
\t_ "k8s.io/kubernetes/cmd/kubectl"
)
"""


def kubernetes_ldflags(kubernetes_version: str) -> str:
    """Stamp the version the way the release build does, so `kubectl version` and `/version` tell the truth."""
    match = re.fullmatch(r"v(\d+)\.(\d+)\.\d+", kubernetes_version)
    if not match:
        raise ValueError(kubernetes_version)
    major, minor = match.groups()
    flags = ["-s", "-w"]
    for package in ("k8s.io/client-go/pkg/version", "k8s.io/component-base/version"):
        flags += [
            f"-X {package}.gitVersion={kubernetes_version}",
            f"-X {package}.gitMajor={major}",
            f"-X {package}.gitMinor={minor}",
            f"-X {package}.gitTreeState=clean",
            f"-X {package}.buildDate=1970-01-01T00:00:00Z",
        ]
    return " ".join(flags)


def helm_ldflags(helm_version: str, client_go_minor: str) -> str:
    """Without these, `helm version` says only the minor and offline templating assumes Kubernetes 1.20."""
    flags = ["-s", "-w", f"-X helm.sh/helm/v3/internal/version.version={helm_version}"]
    for package in ("helm.sh/helm/v3/pkg/chartutil", "helm.sh/helm/v3/pkg/lint/rules"):
        flags += [f"-X {package}.k8sVersionMajor=1", f"-X {package}.k8sVersionMinor={client_go_minor}"]
    return " ".join(flags)


def client_go_minor(helm_go_mod: str) -> str:
    match = re.search(r"k8s\.io/client-go v0\.(\d+)\.\d+", helm_go_mod)
    if not match:
        raise ValueError("helm's go.mod does not require k8s.io/client-go")
    return match.group(1)


def go_environment(base: Mapping[str, str]) -> dict[str, str]:
    """A Go environment that fails fast instead of wandering off to VCS hosts or other toolchains."""
    env = dict(base)
    env.update(CGO_ENABLED="0", GOWORK="off", GOTOOLCHAIN="local", GOFLAGS="")
    proxy = env.get("TENANTGATE_GOPROXY") or _go_env("GOPROXY", env)
    # A ",direct" fallback turns a refused module into a long timeout against an unreachable VCS host.
    entries = [p for p in re.split(r"[,|]", proxy) if p and p not in ("direct", "off")]
    env["GOPROXY"] = ",".join(entries) or "https://proxy.golang.org"
    return env


def _go_env(name: str, env: Mapping[str, str]) -> str:
    out = subprocess.run(["go", "env", name], env=dict(env), capture_output=True, text=True, check=True)
    return out.stdout.strip()


def _go_mod_of(module: str, version: str, env: Mapping[str, str]) -> str:
    out = subprocess.run(
        ["go", "mod", "download", "-json", f"{module}@{version}"],
        env=dict(env),
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise BuildError(f"go mod download {module}@{version} failed:\n{out.stdout}{out.stderr}")
    info = json.loads(out.stdout)
    return Path(info["GoMod"]).read_text()


class BuildError(RuntimeError):
    """A build step failed; the message carries the command and its output."""


def _run(cmd: list[str], cwd: Path, env: Mapping[str, str]) -> None:
    result = subprocess.run(cmd, cwd=cwd, env=dict(env), capture_output=True, text=True)
    if result.returncode != 0:
        raise BuildError(f"`{' '.join(cmd)}` failed in {cwd}:\n{result.stdout}{result.stderr}")


def _say(message: str) -> None:
    print(f"tenantgate: {message}", file=sys.stderr, flush=True)


@contextmanager
def _heartbeat(label: str, started: float, every: float = 60.0) -> Iterator[None]:
    """Say something every minute: a silent 20-minute compile looks like a hang in CI logs."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(every):
            _say(f"still building {label} ({time.monotonic() - started:.0f}s so far)")

    thread = threading.Thread(target=beat, name="build-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _missing(directory: Path, names: tuple[str, ...]) -> list[str]:
    return [n for n in names if not os.access(directory / n, os.X_OK)]


def _install(built: Path, target: Path) -> None:
    """Rename into place so a reader never sees a half-written binary."""
    tmp = target.with_name(f".{target.name}.tmp")
    shutil.copy2(built, tmp)
    os.replace(tmp, target)


def _build_kubernetes(root: Path, out_dir: Path, env: Mapping[str, str]) -> None:
    src = root / "src" / f"kubernetes-{KUBERNETES_VERSION}"
    src.mkdir(parents=True, exist_ok=True)
    upstream_go_mod = _go_mod_of("k8s.io/kubernetes", KUBERNETES_VERSION, env)
    go_line = re.search(r"^go (\S+)", upstream_go_mod, re.MULTILINE)
    modules = staging_modules(upstream_go_mod)
    if not modules:
        raise BuildError("found no staging modules in k8s.io/kubernetes go.mod")
    (src / "go.mod").write_text(
        kubernetes_wrapper_go_mod(KUBERNETES_VERSION, modules, go_line.group(1) if go_line else "1.24.0")
    )
    (src / "tools.go").write_text(KUBERNETES_TOOLS_GO)
    _run(["go", "mod", "tidy"], src, env)
    staging_dir = src / "out"
    staging_dir.mkdir(exist_ok=True)
    packages = [f"k8s.io/kubernetes/cmd/{name}" for name in KUBERNETES_COMMANDS]
    _run(
        [
            "go",
            "build",
            "-trimpath",
            "-buildvcs=false",
            "-ldflags",
            kubernetes_ldflags(KUBERNETES_VERSION),
            "-o",
            f"{staging_dir}/",
            *packages,
        ],
        src,
        env,
    )
    for name in KUBERNETES_COMMANDS:
        _install(staging_dir / name, out_dir / name)


def _build_etcd(root: Path, out_dir: Path, env: Mapping[str, str]) -> None:
    # `go install` refuses etcd's server module (it has replace lines), so build it from a wrapper module.
    src = root / "src" / f"etcd-{ETCD_VERSION}"
    src.mkdir(parents=True, exist_ok=True)
    (src / "go.mod").write_text("module tenantgate.local/etcd-binary\n\ngo 1.25.0\n")
    _run(["go", "get", f"go.etcd.io/etcd/server/v3@{ETCD_VERSION}"], src, env)
    _run(
        ["go", "build", "-trimpath", "-buildvcs=false", "-ldflags", "-s -w", "-o", "etcd", "go.etcd.io/etcd/server/v3"],
        src,
        env,
    )
    _install(src / "etcd", out_dir / "etcd")


def _build_helm(root: Path, out_dir: Path, env: Mapping[str, str]) -> None:
    gobin = root / "src" / f"helm-{HELM_VERSION}"
    gobin.mkdir(parents=True, exist_ok=True)
    minor = client_go_minor(_go_mod_of("helm.sh/helm/v3", HELM_VERSION, env))
    install_env = {**env, "GOBIN": str(gobin)}
    _run(
        [
            "go",
            "install",
            "-trimpath",
            "-ldflags",
            helm_ldflags(HELM_VERSION, minor),
            f"helm.sh/helm/v3/cmd/helm@{HELM_VERSION}",
        ],
        gobin,
        install_env,
    )
    _install(gobin / "helm", out_dir / "helm")


def ensure_binaries(root: Path | None = None) -> Binaries:
    """Return the cached binaries, building whichever are missing (first run only)."""
    root = root or cache_root()
    out_dir = binaries_dir(root)
    if not _missing(out_dir, ALL_BINARIES):
        return Binaries(out_dir)
    if shutil.which("go") is None:
        raise BuildError("`go` is not on PATH; Go >= 1.26 is needed to build the control plane once")
    with _locked(root / "build.lock"):
        out_dir.mkdir(parents=True, exist_ok=True)
        missing = _missing(out_dir, ALL_BINARIES)  # another process may have built them while we waited
        if not missing:
            return Binaries(out_dir)
        env = go_environment(os.environ)
        steps = [
            (
                "kubernetes",
                KUBERNETES_COMMANDS,
                _build_kubernetes,
                f"kube-apiserver, kube-controller-manager, kubectl {KUBERNETES_VERSION}",
            ),
            ("etcd", ("etcd",), _build_etcd, f"etcd {ETCD_VERSION}"),
            ("helm", ("helm",), _build_helm, f"helm {HELM_VERSION}"),
        ]
        for key, names, build, label in steps:
            if not any(n in missing for n in names):
                continue
            _say(f"building {label} (first run only, ~{COLD_BUILD_MINUTES[key]} min on 2 cores) ...")
            started = time.monotonic()
            with _heartbeat(label, started):
                build(root, out_dir, env)
            _say(f"built {label} in {time.monotonic() - started:.0f}s -> {out_dir}")
    return Binaries(out_dir)
