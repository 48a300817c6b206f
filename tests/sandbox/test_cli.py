"""``vultr-toolkit sandbox`` and ``vultr-toolkit demo`` as real subprocesses."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import httpx2

from vultr_toolkit.sandbox import Sandbox


def test_cli_runs_as_a_subprocess_and_stops_on_sigterm() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "vultr_toolkit.cli", "sandbox", "--port", "0", "--seed", "3", "--instances", "7"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        assert set(info) >= {"api_url", "inference_url", "api_key", "inference_api_key", "port"}
        headers = {"Authorization": f"Bearer {info['api_key']}"}
        body = httpx2.get(info["api_url"] + "/instances", params={"per_page": 2}, headers=headers).json()
        assert len(body["instances"]) == 2 and body["meta"]["links"]["next"] and body["meta"]["total"] == 7
        assert httpx2.get(info["api_url"] + "/instances").status_code == 401
        assert body["instances"] == Sandbox(seed=3, fleet={"instances": 7}).fleet["instances"][:2]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.stderr is not None and "sandbox stopped" in proc.stderr.read()


def test_cli_rejects_bad_fleet_json() -> None:
    proc = subprocess.run([sys.executable, "-m", "vultr_toolkit.cli", "sandbox", "--fleet", "[1]"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "JSON object" in proc.stderr


def test_demo_tours_the_sandbox_with_the_client_and_exits(tmp_path: Path) -> None:
    # Run where the default report lands in a throwaway directory, never in the checkout.
    proc = subprocess.run([sys.executable, "-m", "vultr_toolkit.cli", "demo", "--seed", "1"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = {line.split()[0]: line for line in proc.stdout.splitlines() if line.strip()}
    assert lines["instances"].split()[-1] == "25"
    assert lines["databases"].split()[-1] == "7"
    assert "/month" in proc.stdout and "http://127.0.0.1:" in proc.stdout
    assert (tmp_path / "vultr-toolkit-demo.html").stat().st_size > 0


def test_no_command_prints_help_and_fails() -> None:
    proc = subprocess.run([sys.executable, "-m", "vultr_toolkit.cli"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "sandbox" in proc.stderr
