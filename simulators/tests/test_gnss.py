"""GNSS receiver against its own specification: NMEA validity, noise statistics, outages, time."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pynmea2  # type: ignore[import-untyped,unused-ignore]
import pytest

from simulators.geo import LocalFrame
from simulators.gnss import GnssConfig, GnssReceiver
from simulators.loops import HELSINKI, block_loop
from simulators.trajectory import Trajectory


def lines_of(burst: bytes) -> list[str]:
    return [ln for ln in burst.decode("ascii").split("\r\n") if ln]


def test_every_sentence_parses_except_the_corrupted_ones(loop: Trajectory) -> None:
    rx = GnssReceiver(loop, GnssConfig(corrupt_prob=0.03, seed=5))
    parsed = damaged = 0
    kinds = set()
    for k in range(rx.n_epochs):
        lines = lines_of(rx.epoch(k))
        bad = {i for i, _ in rx.truth(k).corrupted}
        for i, line in enumerate(lines):
            if i in bad:
                with pytest.raises((pynmea2.ParseError, pynmea2.ChecksumError, ValueError)):
                    pynmea2.parse(line, check=True)
                damaged += 1
            else:
                msg = pynmea2.parse(line, check=True)
                kinds.add(msg.sentence_type)
                parsed += 1
    assert kinds == {"RMC", "VTG", "GGA", "GSA", "GSV"}
    assert damaged > 20
    assert parsed > 10 * damaged


def test_reported_positions_are_the_truth_plus_the_recorded_error(loop: Trajectory) -> None:
    rx = GnssReceiver(loop, GnssConfig(sentences=("GGA",)))
    for k in range(int(rx.cfg.ttff_s), rx.n_epochs, 7):
        gga = pynmea2.parse(lines_of(rx.epoch(k))[0], check=True)
        e, n = HELSINKI.to_xy(gga.longitude, gga.latitude)
        x, y = HELSINKI.to_xy(rx.true_lon[k], rx.true_lat[k])
        assert abs((e - x) - rx.error[k, 0]) < 0.03
        assert abs((n - y) - rx.error[k, 1]) < 0.03


def parked(frame: LocalFrame, seconds: float) -> Trajectory:
    return Trajectory.build(frame, [[0.0, 0.0], [5.0, 0.0]], [1.0], start_dwell_s=seconds)


def test_noise_and_bias_statistics_match_the_configuration() -> None:
    cfg = GnssConfig(sigma_noise_m=2.0, sigma_bias_m=3.0, bias_tau_s=10.0, ttff_s=0.0, sentences=("GGA",))
    rx = GnssReceiver(parked(HELSINKI, 30_000.0), cfg, tail_s=0.0)
    east, north = [], []
    for k in range(5, 30_000):
        gga = pynmea2.parse(lines_of(rx.epoch(k))[0], check=True)
        e, n = HELSINKI.to_xy(gga.longitude, gga.latitude)
        x, y = HELSINKI.to_xy(rx.true_lon[k], rx.true_lat[k])
        east.append(float(e - x))
        north.append(float(n - y))
    phi = np.exp(-1.0 / cfg.bias_tau_s)
    for axis in (np.array(east), np.array(north)):
        err = axis - axis.mean()
        c0 = float(np.mean(err * err))
        c1 = float(np.mean(err[1:] * err[:-1]))
        sigma_bias = np.sqrt(c1 / phi)
        sigma_noise = np.sqrt(c0 - c1 / phi)
        assert sigma_noise == pytest.approx(cfg.sigma_noise_m, rel=0.10)
        assert sigma_bias == pytest.approx(cfg.sigma_bias_m, rel=0.10)


def test_narrow_streets_scale_the_errors() -> None:
    cfg = GnssConfig(canyon_gain=2.0, canyon_mask_deg=10.0, ttff_s=0.0)
    open_sky = GnssReceiver(block_loop(laps=3), cfg)
    canyon = GnssReceiver(block_loop(laps=3, canyon=0.5), cfg)
    ratio = np.std(canyon.error[:, :2]) / np.std(open_sky.error[:, :2])
    assert ratio == pytest.approx(2.0, rel=1e-9)  # same seed: exactly 1 + 2 × 0.5


def test_deep_canyon_and_tunnel_lose_the_fix() -> None:
    deep = GnssReceiver(block_loop(canyon=1.0), GnssConfig(ttff_s=0.0))
    assert not deep.fix.any()
    traj = block_loop()
    traj.seg_tunnel[1] = True
    rx = GnssReceiver(traj, GnssConfig(ttff_s=0.0))
    seg = traj.sample(rx.t).segment
    assert not rx.fix[seg == 1].any()
    assert rx.fix[seg == 3].all()
    rmc = pynmea2.parse(lines_of(rx.epoch(int(np.flatnonzero(seg == 1)[5])))[0], check=True)
    assert rmc.status == "V" and rmc.latitude == 0.0 and rmc.timestamp is not None


def test_cold_start_has_no_fix_and_no_time(loop: Trajectory) -> None:
    rx = GnssReceiver(loop, GnssConfig(ttff_s=30.0))
    first = pynmea2.parse(lines_of(rx.epoch(0))[0], check=True)
    assert first.status == "V" and first.timestamp is None
    assert not rx.fix[:30].any() and rx.fix[32]


def test_week_rollover_bug_and_leap_second_on_demand(loop: Trajectory) -> None:
    start = dt.datetime(2026, 12, 31, 23, 59, 50, tzinfo=dt.UTC)
    leap = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
    rx = GnssReceiver(loop, GnssConfig(start_utc=start, leap_second_at=leap, ttff_s=0.0))
    assert rx.utc_at(9.0) == ("235959.00", "311226")
    assert rx.utc_at(10.0) == ("235960.00", "311226")
    assert rx.utc_at(11.0) == ("000000.00", "010127")
    buggy = GnssReceiver(loop, GnssConfig(start_utc=start, week_rollover_bug=True, ttff_s=0.0))
    rmc = pynmea2.parse(lines_of(buggy.epoch(20))[0], check=True)
    assert rmc.datestamp == (start + dt.timedelta(seconds=20) - dt.timedelta(weeks=1024)).date()


def test_time_jump_on_demand(loop: Trajectory) -> None:
    start = dt.datetime(2026, 6, 15, 6, 0, 0, tzinfo=dt.UTC)
    rx = GnssReceiver(loop, GnssConfig(start_utc=start, time_jump=(100.0, 50.0, 3600.0), ttff_s=0.0))
    assert rx.utc_at(99.0) == ("060139.00", "150626")
    assert rx.utc_at(100.0) == ("070140.00", "150626")  # an hour ahead for 50 s
    assert rx.utc_at(149.0) == ("070229.00", "150626")
    assert rx.utc_at(150.0) == ("060230.00", "150626")
    rmc = pynmea2.parse(lines_of(rx.epoch(120))[0], check=True)
    assert rmc.timestamp.hour == 7
