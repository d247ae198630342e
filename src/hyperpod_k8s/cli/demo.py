"""``hpk8s demo serve``: keep a demo cluster running and print how to point other shells at it."""

from __future__ import annotations

import signal
import sys
import threading
from typing import Annotated

import typer


def serve(
    env_file: Annotated[str | None, typer.Option("--env-file", help="Also write the export lines to this file.")] = None,
) -> None:
    """Run the demo cluster in the foreground until Ctrl-C.

    Prints `export` lines for KUBECONFIG, AWS_ENDPOINT_URL, credentials and
    SAGEMAKER_RESOURCE_CONFIG_PATH: paste them (or `source` the --env-file) in another shell, then use
    hpk8s, kubectl and the aws CLI against the same demo state.
    """
    from hyperpod_k8s.demo.server import DemoCluster

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with DemoCluster() as demo:
        assert demo.endpoints is not None
        lines = [f"export {k}={v}" for k, v in demo.endpoints.env().items()]
        if env_file:
            with open(env_file, "w") as f:
                f.write("\n".join(lines) + "\n")
        print("\n".join(lines), flush=True)
        print(f"# demo cluster {demo.endpoints.cluster} is up: Kubernetes API from the kubeconfig above, AWS at "
              f"{demo.endpoints.aws_endpoint}. In another shell, run the export lines, then e.g. "
              "`hpk8s ops nodes`. Ctrl-C stops it.", file=sys.stderr, flush=True)
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
    print("# demo cluster stopped", file=sys.stderr)
