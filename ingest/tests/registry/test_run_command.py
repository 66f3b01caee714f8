"""``facteur run`` (what ``make run`` starts): ingest and a demo depot gateway, both stopped by Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from ingest.localdb import port_is_free
from ingest.testing import IngestService, free_port

pytestmark = pytest.mark.timeout(120)


def _wait(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        assert proc.poll() is None, "facteur run exited early"
        try:
            r = httpx.get(url, timeout=2)
            if r.status_code == 200:
                return r
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, f"{url} never answered"
        time.sleep(0.1)


def _start(ingest_service: IngestService, tmp_path: Path) -> tuple[subprocess.Popen[bytes], int, int, Path]:
    port, gateway_port = free_port(), free_port()
    env = {
        **os.environ,
        "FACTEUR_DATABASE_URL": ingest_service.database_url,
        "FACTEUR_STATE_DIR": str(tmp_path),
    }
    log = tmp_path / "run.log"
    command = [
        sys.executable,
        "-m",
        "ingest.cli",
        "run",
        "--port",
        str(port),
        "--gateway-port",
        str(gateway_port),
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    return proc, port, gateway_port, log


def _stop(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    proc.send_signal(sig)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def test_run_starts_ingest_and_a_demo_gateway_and_ctrl_c_stops_both(
    ingest_service: IngestService, tmp_path: Path
) -> None:
    proc, port, gateway_port, log = _start(ingest_service, tmp_path)
    try:
        _wait(f"http://127.0.0.1:{port}/health", proc)
        status = _wait(f"http://127.0.0.1:{gateway_port}/status", proc).json()
        assert status["forwarder"]["ingest_url"] == f"http://127.0.0.1:{port}"
        provisioning = json.loads((tmp_path / "demo" / "van-demo-0001.json").read_text())
        assert provisioning["gateway"] == f"127.0.0.1:{gateway_port}"
    finally:
        _stop(proc, signal.SIGINT)  # Ctrl-C: also what stops the gateway if an assert failed
    text = log.read_text()
    assert proc.returncode == 0, text
    assert f"http://127.0.0.1:{gateway_port}/status" in text
    assert "gateway stopped" in text
    assert port_is_free(port) and port_is_free(gateway_port)


def test_the_gateway_never_outlives_a_killed_run(ingest_service: IngestService, tmp_path: Path) -> None:
    proc, _, gateway_port, _ = _start(ingest_service, tmp_path)
    try:
        _wait(f"http://127.0.0.1:{gateway_port}/status", proc)
    finally:
        _stop(proc, signal.SIGKILL)  # no chance to clean up: the kernel must take the gateway down
    deadline = time.monotonic() + 30
    while not port_is_free(gateway_port):
        assert time.monotonic() < deadline, "the gateway outlived facteur run"
        time.sleep(0.1)
