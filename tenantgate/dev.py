"""`tenantgate dev`: a local control plane with tenantgate installed and an example applied, in the foreground.

It shows what a tenant sees: a Project admitted for its owner, a shop-operator manifest applied unchanged and
defaulted with a `Warning:` line, and an App from a registry the tenant does not allow denied with a message
that says what is allowed. Everything stops cleanly on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from tenantgate.devcluster import ControlPlane
from tenantgate.devcluster.platform import REPO_ROOT, LocalPlatform
from tenantgate.devcluster.publishing import DevPublishing

EXAMPLES = REPO_ROOT / "deploy" / "examples"
OWNER = ("alice", ("acme-admins",))
EXAMPLE_NAMESPACE = "kubeop-acme-web"


def _say(message: str = "") -> None:
    print(message, flush=True)


def _show(
    plane: ControlPlane,
    title: str,
    args: Sequence[str],
    *,
    as_owner: bool = False,
    settle: float = 0,
    expected: int = 0,
) -> int:
    """Run kubectl as a user would and print the command and everything it printed.

    With `settle`, a result other than `expected` is retried for that many seconds before it is shown: the
    webhook learns of a Tenant created a moment ago through its watch, a few milliseconds later.
    """
    user, groups = OWNER if as_owner else (None, ())
    shown = " ".join(["kubectl", *args])
    if user:
        shown += f" --as {user}" + "".join(f" --as-group {g}" for g in groups)
    _say(f"# {title}")
    _say(f"$ {shown}")
    deadline = time.monotonic() + settle
    result = plane.kubectl(*args, as_user=user, as_groups=groups, check=False)
    while result.returncode != expected and time.monotonic() < deadline:
        time.sleep(0.5)
        result = plane.kubectl(*args, as_user=user, as_groups=groups, check=False)
    for line in (result.stdout + result.stderr).rstrip().splitlines():
        _say(f"  {line}")
    _say(f"  (exit {result.returncode})")
    _say()
    return result.returncode


def _wait_for_namespace(plane: ControlPlane, timeout: float = 90) -> bool:
    """The controller creates the Project's namespace and the owners' RoleBinding; wait until alice may write."""
    deadline = time.monotonic() + timeout
    user, groups = OWNER
    while time.monotonic() < deadline:
        can = plane.kubectl(
            "auth",
            "can-i",
            "create",
            "shops.apps.shophub.local",
            "-n",
            EXAMPLE_NAMESPACE,
            as_user=user,
            as_groups=groups,
            check=False,
        )
        if can.stdout.strip() == "yes":
            return True
        time.sleep(0.5)
    return False


@dataclass(frozen=True)
class Step:
    title: str
    kubectl: tuple[str, ...]
    as_owner: bool
    expected_exit: int = 0
    settle: float = 0


def _apply(example: str) -> tuple[str, ...]:
    return ("apply", "-f", str(EXAMPLES / example))


ADMIN_STEPS = (
    Step(
        "A platform admin creates tenant acme and lets its owners manage Projects",
        _apply("00-tenant-acme.yaml"),
        as_owner=False,
    ),
    Step("alice, an owner of acme, creates Project web", _apply("10-project-web.yaml"), as_owner=True, settle=15),
)
TENANT_STEPS = (
    Step(
        "alice applies a shop-operator Shop unchanged: defaulted, with a warning", _apply("20-shop.yaml"), as_owner=True
    ),
    Step(
        "What was stored: availability and database were defaulted, tenant labels added",
        (
            "get",
            "shop",
            "storefront",
            "-n",
            EXAMPLE_NAMESPACE,
            "-o",
            "jsonpath={.spec}{'\\n'}{.metadata.labels}{'\\n'}",
        ),
        as_owner=True,
    ),
    Step(
        "alice applies an App from a registry acme does not allow: denied",
        _apply("90-denied-app.yaml"),
        as_owner=True,
        expected_exit=1,
    ),
)


def _run_steps(plane: ControlPlane, steps: Sequence[Step]) -> bool:
    results = [
        _show(plane, s.title, s.kubectl, as_owner=s.as_owner, settle=s.settle, expected=s.expected_exit)
        == s.expected_exit
        for s in steps
    ]
    return all(results)


def _wait_for(plane: ControlPlane, *kubectl: str, timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if plane.kubectl(*kubectl, check=False).returncode == 0:
            return True
        time.sleep(0.5)
    return False


EXPANSION_STEPS = (
    Step(
        "alice applies a kubeOP App: admitted, then expanded by the controller",
        _apply("40-app-image.yaml"),
        as_owner=True,
    ),
    Step(
        "The children that appeared",
        ("get", "deployment,service,ingress", "-n", EXAMPLE_NAMESPACE, "-l", "app.kubeop.io/app=web"),
        as_owner=True,
    ),
    Step(
        "The App with its revision (Ready stays False: the local control plane runs no pods)",
        ("get", "app", "web", "-n", EXAMPLE_NAMESPACE),
        as_owner=True,
    ),
)


def show_example(plane: ControlPlane) -> bool:
    """Apply deploy/examples/ step by step; True when every step behaved as the example promises."""
    ok = _run_steps(plane, ADMIN_STEPS)
    if not _wait_for_namespace(plane):
        _say(f"namespace {EXAMPLE_NAMESPACE} or its owner RoleBinding did not appear; see the controller log")
        return False
    ok = _run_steps(plane, TENANT_STEPS) and ok
    ok = _run_steps(plane, EXPANSION_STEPS[:1]) and ok
    if not _wait_for(plane, "get", "deployment", "app-web", "-n", EXAMPLE_NAMESPACE):
        _say("the App's Deployment did not appear; see the controller log")
        return False
    _wait_for(plane, "get", "app", "web", "-n", EXAMPLE_NAMESPACE, "-o", "jsonpath={.status.revision}")
    return _run_steps(plane, EXPANSION_STEPS[1:]) and ok


def _report_exits(platform: LocalPlatform, plane: ControlPlane) -> None:
    """Say which platform process died, with the end of its log, and keep the logs for reading."""
    for service in platform.exited():
        _say(f"tenantgate dev: the {service.name} exited; the last lines of {service.log}:")
        _say(service.tail(20))
    plane.keep_state_on_stop()
    _say(f"tenantgate dev: logs kept in {plane.directory}")


def run_dev(args: argparse.Namespace) -> int:
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    state_dir: Path | None = args.state_dir
    _say("tenantgate dev: starting etcd, kube-apiserver and kube-controller-manager on 127.0.0.1 ...")
    with ControlPlane(state_dir=state_dir, keep_state=state_dir is not None) as plane:
        _say(f"tenantgate dev: control plane ready in {plane.startup_seconds:.1f}s at {plane.server}")
        platform: LocalPlatform | None = None
        publishing: DevPublishing | None = None
        example_ok = True
        try:
            if not args.no_platform:
                publishing = DevPublishing(args.publishing, plane, plane.directory / "tenantgate").start()
                platform = LocalPlatform(plane, controller_env=publishing.controller_env).install()
                _say(f"tenantgate dev: chart installed; webhook serving at {platform.webhook_url}; controller running")
                for line in publishing.describe():
                    _say(f"tenantgate dev: {line}")
                _say(f"tenantgate dev: logs in {platform.directory}")
                _say()
                if not args.no_example:
                    example_ok = show_example(plane)
                    if not example_ok:
                        _report_exits(platform, plane)
            _say("In another shell:")
            _say(f"  export KUBECONFIG={plane.kubeconfig}")
            _say(f"  export PATH={plane.binaries.directory}:$PATH   # the pinned kubectl and helm")
            _say("  kubectl get tenants,projects; kubectl get shops -A")
            _say()
            if args.exit_after_example:
                return 0 if example_ok else 1
            _say("Press Ctrl-C to stop.")
            while not stop.wait(1.0):
                if platform is not None and platform.exited():
                    _report_exits(platform, plane)
                    return 1
                if publishing is not None and publishing.exited():
                    _say(f"tenantgate dev: the publishing stand-ins stopped; see {publishing.standin_log}")
                    plane.keep_state_on_stop()
                    return 1
            _say("tenantgate dev: stopping ...")
        except subprocess.CalledProcessError as exc:
            _say(f"tenantgate dev: `{' '.join(map(str, exc.cmd))}` failed:\n{exc.stderr}")
            if platform is not None:
                _report_exits(platform, plane)
            return 1
        finally:
            if platform is not None:
                platform.stop()
            if publishing is not None:
                publishing.stop()
    return 0
