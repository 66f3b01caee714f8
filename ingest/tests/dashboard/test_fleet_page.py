"""The fleet page shows each device's firmware version, boot time and reset cause (from its latest
BOOT record) in a real headless Chromium; what a device reports is shown as text, never markup."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg

from ingest.tests.dashboard.chromium import run_in_chromium
from ingest.tests.indicators.city import City

DEVICE = "van-fleet-fw"
HOSTILE = "0.2.0-<i>rc</i><img src=x onerror=alert(1)>"


def test_fleet_page_shows_the_firmware_version(city: City) -> None:
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
    result = run_in_chromium("fleet_check.cjs", city.url)
    assert result["console"] == []  # no script ran from the reported version
    headers = result["headers"]
    assert {"firmware_version", "booted_at", "reset_cause"} <= set(headers)
    row = next(r for r in result["rows"] if r[0]["text"] == DEVICE)
    cell = {h: row[i] for i, h in enumerate(headers)}
    assert cell["firmware_version"]["text"] == HOSTILE  # the latest boot's, shown as text
    assert result["injected"] == 0
    assert cell["reset_cause"] == {"text": "watchdog", "bad": True}
    assert cell["booted_at"]["text"].startswith(booted.isoformat()[:16])
