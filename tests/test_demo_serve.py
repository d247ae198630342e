"""`hpk8s demo serve`: one demo cluster in the foreground, other processes pointed at it by its env."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def test_demo_serve_points_other_processes_at_one_state(tmp_path: Path) -> None:
    env_file = tmp_path / "demo.env"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KUBECONFIG", "HPK8S_", "SAGEMAKER_"))}
    server = subprocess.Popen([sys.executable, "-m", "hyperpod_k8s", "demo", "serve", "--env-file", str(env_file)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 60
        while not env_file.exists() and time.monotonic() < deadline:
            assert server.poll() is None, server.stderr.read() if server.stderr else ""
            time.sleep(0.2)
        demo_env = dict(env)
        for line in env_file.read_text().splitlines():
            key, _, value = line.removeprefix("export ").partition("=")
            demo_env[key] = value
        assert {"KUBECONFIG", "AWS_ENDPOINT_URL", "SAGEMAKER_RESOURCE_CONFIG_PATH"} <= set(demo_env)

        def hpk8s(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([sys.executable, "-m", "hyperpod_k8s", *args], capture_output=True, text=True,
                                  env=demo_env, timeout=120)

        r = hpk8s("ops", "cordon", "ip-10-1-38-128", "--reason", "seen from another shell")
        assert r.returncode == 0, r.stderr
        r = hpk8s("ops", "nodes", "-o", "json", "--node", "ip-10-1-38-128")
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["nodes"][0]["cordoned"] is True  # the same state, across processes
    finally:
        server.send_signal(signal.SIGTERM)
        _, err = server.communicate(timeout=30)
    assert server.returncode == 0, err
    assert "demo cluster stopped" in err
