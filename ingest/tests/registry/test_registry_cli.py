"""``facteur registry`` as a real command on the real database, and the provisioning file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx

from ingest.testing import IngestService


def facteur(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FACTEUR_DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "ingest.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_add_device_writes_the_provisioning_file(ingest_service: IngestService, tmp_path: Path) -> None:
    out = tmp_path / "van.json"
    key_hex = "ab" * 32
    r = facteur(
        ingest_service.database_url,
        "registry", "add-device", "van-cli-0001", "--depot", "depot-cli", "--vehicle", "GH-123-IJ",
        "--key-hex", key_hex, "--provision", str(out),
        "--ssid", "facteur-depot-01", "--gateway", "192.168.4.1:8500",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert json.loads(out.read_text()) == {
        "device_id": "van-cli-0001",
        "key_hex": key_hex,
        "depot_ssids": ["facteur-depot-01"],
        "gateway": "192.168.4.1:8500",
    }
    assert out.stat().st_mode & 0o077 == 0
    again = facteur(
        ingest_service.database_url, "registry", "add-device", "van-cli-0001", "--depot", "depot-cli"
    )
    assert again.returncode == 1 and "already registered" in again.stderr
    listed = facteur(ingest_service.database_url, "registry", "list-devices", "--depot", "depot-cli")
    assert "van-cli-0001" in listed.stdout and key_hex not in listed.stdout

    r = facteur(ingest_service.database_url, "registry", "add-gateway", "gw-cli", "--depot", "depot-cli")
    assert r.returncode == 0, r.stderr
    token = r.stdout.strip().rsplit(" ", 1)[-1]
    synced = httpx.get(
        f"{ingest_service.url}/v1/gateway/devices", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert synced.status_code == 200
    assert synced.json()["devices"] == [
        {"device_id": "van-cli-0001", "depot": "depot-cli", "vehicle": "GH-123-IJ", "key_hex": key_hex}
    ]


def test_registry_api(ingest_service: IngestService) -> None:
    h = ingest_service.admin_headers
    url = ingest_service.url
    r = httpx.post(
        f"{url}/v1/registry/devices", json={"device_id": "van-api-1", "depot": "d"}, headers=h, timeout=10
    )
    assert r.status_code == 201 and len(r.json()["key_hex"]) == 64
    r = httpx.post(
        f"{url}/v1/registry/devices", json={"device_id": "van-api-1", "depot": "d"}, headers=h, timeout=10
    )
    assert (r.status_code, r.json()["error"]) == (409, "exists")
    r = httpx.post(
        f"{url}/v1/registry/devices", json={"device_id": "has space", "depot": "d"}, headers=h, timeout=10
    )
    assert (r.status_code, r.json()["error"]) == (422, "invalid_request")
    r = httpx.get(
        f"{url}/v1/registry/devices/van-api-1/provisioning",
        params={"gateway": "10.0.0.1:8500", "ssid": ["a", "b"]},
        headers=h,
        timeout=10,
    )
    assert r.status_code == 200 and r.json()["depot_ssids"] == ["a", "b"]
    r = httpx.get(f"{url}/v1/registry/devices", headers={"Authorization": "Bearer nope"}, timeout=10)
    assert r.status_code == 401
