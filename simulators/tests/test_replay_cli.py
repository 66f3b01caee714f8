"""Replay of NMEA logs and GPX tracks, and the command line end to end."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import serial  # type: ignore[import-untyped,unused-ignore]

from simulators.cli import main
from simulators.gnss import GnssConfig, GnssReceiver
from simulators.loops import HELSINKI, block_loop
from simulators.pty_serial import PtySerial
from simulators.replay import NmeaLog, read_gpx, serve_log, write_gpx


def test_an_nmea_log_replays_with_its_own_timing_across_midnight(tmp_path: Path) -> None:
    start = dt.datetime(2026, 6, 15, 23, 59, 0, tzinfo=dt.UTC)
    rx = GnssReceiver(block_loop(), GnssConfig(start_utc=start, ttff_s=0.0), tail_s=0.0)
    keep = [k for k in range(rx.n_epochs) if not 40 <= k < 50]  # a 10 s gap in the recording
    log_bytes = b"".join(rx.epoch(k) for k in keep)
    log = NmeaLog.parse(log_bytes)
    assert log.n_epochs == len(keep)
    assert np.allclose(log.times, [float(k) for k in keep])
    assert log.start_utc == start
    assert b"".join(log.chunks) == log_bytes  # bytes replayed exactly as recorded
    traj = log.trajectory(HELSINKI)
    truth = block_loop().sample(np.array(log.fix_t))
    got = traj.sample(np.array(log.fix_t) - log.fix_t[0])
    err = np.hypot(got.x - truth.x, got.y - truth.y)
    assert np.median(err) < 10.0  # the fixes, noise included


def test_a_gpx_track_becomes_the_truth(tmp_path: Path) -> None:
    traj = block_loop()
    start = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC)
    gpx = write_gpx(tmp_path / "t.gpx", traj, start, every_s=2.0)
    back, when = read_gpx(gpx, HELSINKI)
    assert when == start
    t = np.arange(0.0, back.duration, 2.0)
    a, b = traj.sample(t), back.sample(t)
    assert np.hypot(a.x - b.x, a.y - b.y).max() < 0.05
    assert abs(back.length - traj.length) < 0.01 * traj.length  # corners cut between points


def test_cli_round_writes_truth_and_a_picture(tmp_path: Path) -> None:
    assert main(["round", "--stops", "6", "--seed", "4", "--out", str(tmp_path), "--quiet"]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["stops"] == 6
    for name in ("gnss.nmea", "track.csv", "stops.csv", "road.csv", "potholes.csv", "segments.csv"):
        assert (tmp_path / name).stat().st_size > 0
    assert (tmp_path / "round.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_log_is_served_on_a_pty_at_its_own_pace(tmp_path: Path) -> None:
    rx = GnssReceiver(block_loop(), GnssConfig(ttff_s=0.0), tail_s=0.0)
    log = NmeaLog.parse(b"".join(rx.epoch(k) for k in range(20)))
    pty = PtySerial()
    port = serial.Serial(pty.path, 9600, timeout=0.1)
    started = time.monotonic()
    thread = threading.Thread(target=serve_log, args=(log, pty), kwargs={"speed": 20.0})
    thread.start()
    got = b""
    while thread.is_alive() or port.in_waiting:
        got += port.read(4096)
    thread.join()
    elapsed = time.monotonic() - started
    port.timeout = 0.3  # the tail, which the kernel may still be handing over
    while chunk := port.read(65536):
        got += chunk
    port.close()
    pty.close()
    assert got == b"".join(log.chunks)
    assert elapsed >= 19 / 20.0  # 19 s of recording at 20× speed


@pytest.mark.long
def test_cli_fleet_of_a_hundred_vans(tmp_path: Path) -> None:
    assert main(["fleet", "--vans", "100", "--stops", "10", "--out", str(tmp_path), "--quiet"]) == 0
    info = json.loads((tmp_path / "fleet.json").read_text())
    assert info["summary"]["vans"] == 100
    assert len(list(tmp_path.glob("van-*/gnss.nmea"))) == 100


def test_cli_time_edge_cases_on_demand(tmp_path: Path) -> None:
    args = ["round", "--stops", "2", "--seed", "2", "--out", str(tmp_path), "--quiet", "--no-picture"]
    args += ["--start", "2026-12-31T23:55:00Z", "--leap-second", "2027-01-01T00:00:00Z", "--week-rollover"]
    assert main(args) == 0
    nmea = (tmp_path / "gnss.nmea").read_text()
    assert "$GPRMC,235960.00,A," in nmea  # the inserted second
    assert ",170507,,,A*" in nmea and ",180507,,,A*" in nmea  # 31 Dec 2026 − 1024 weeks, and the next day
