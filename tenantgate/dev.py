"""`tenantgate dev`: a local control plane in the foreground, stopped cleanly on Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from tenantgate.devcluster import ControlPlane


def _say(message: str) -> None:
    print(message, flush=True)


def run_dev(args: argparse.Namespace) -> int:
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    _say("tenantgate dev: starting etcd, kube-apiserver and kube-controller-manager on 127.0.0.1 ...")
    with ControlPlane(state_dir=args.state_dir, keep_state=args.state_dir is not None) as plane:
        _say(f"tenantgate dev: control plane ready in {plane.startup_seconds:.1f}s at {plane.server}")
        _say("")
        _say("In another shell:")
        _say(f"  export KUBECONFIG={plane.kubeconfig}")
        _say(f"  export PATH={plane.binaries.directory}:$PATH   # the pinned kubectl and helm")
        _say("")
        if args.exit_after_example:
            return 0
        _say("Press Ctrl-C to stop.")
        stop.wait()
        _say("tenantgate dev: stopping ...")
    return 0


if __name__ == "__main__":
    from tenantgate.cli import main

    sys.exit(main(["dev", *sys.argv[1:]]))
