"""The fleet page shows each device's firmware version, boot time and reset cause (from its latest
BOOT record) in a real headless Chromium; what a device reports is shown as text, never markup."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from ingest.app import create_app
from ingest.core.config import Settings
from ingest.dashboard import maplibre_dist, npm_modules
from ingest.testing import LiveServer
from ingest.tests.indicators.city import City

HERE = Path(__file__).resolve().parent
ARTIFACTS = Path(__file__).resolve().parents[3] / "artifacts" / "dashboard"
DEVICE = "van-fleet-fw"
HOSTILE = "0.2.0-<i>rc</i><img src=x onerror=alert(1)>"


def test_fleet_page_shows_the_firmware_version(city: City) -> None:
    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is not installed (make bootstrap installs it)"
    assert (maplibre_dist() / "maplibre-gl.js").is_file(), "run `make dashboard-assets`"
    booted = datetime.now(UTC) - timedelta(hours=2)
    with psycopg.connect(city.url) as conn:
        conn.execute(
            "INSERT INTO devices (device_id, key, depot, vehicle) VALUES (%s, %s, 'depot-a', 'FW-001-AA')"
            " ON CONFLICT DO NOTHING",
            (DEVICE, bytes(32)),
        )
        conn.execute("DELETE FROM device_boots WHERE device_id = %s", (DEVICE,))
        conn.execute(
            "INSERT INTO device_boots (device_id, seq, boot_id, ticks, boot_count, reset_cause,"
            " firmware_version, time, received_at) VALUES (%s, 0, 1, 100, 1, 1, '0.1.0', %s, %s),"
            " (%s, 50, 2, 80, 2, 3, %s, %s, %s)",
            (
                DEVICE,
                booted - timedelta(days=1),
                booted,
                DEVICE,
                HOSTILE,
                booted,
                booted + timedelta(minutes=5),
            ),
        )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with LiveServer(create_app(Settings(database_url=city.url))) as server:
        proc = subprocess.run(
            ["node", str(HERE / "fleet_check.cjs"), server.url, chromium, str(ARTIFACTS)],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "NODE_PATH": str(npm_modules())},
            check=False,
        )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "error" not in result, result["error"]
    assert result["console"] == []  # no script ran from the reported version
    headers = result["headers"]
    assert {"firmware_version", "booted_at", "reset_cause"} <= set(headers)
    row = next(r for r in result["rows"] if r[0]["text"] == DEVICE)
    cell = {h: row[i] for i, h in enumerate(headers)}
    assert cell["firmware_version"]["text"] == HOSTILE  # the latest boot's, shown as text
    assert result["injected"] == 0
    assert cell["reset_cause"] == {"text": "watchdog", "bad": True}
    assert cell["booted_at"]["text"].startswith(booted.isoformat()[:16])
