"""What the chips report over the wire is the truth field at the van's position and time."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from simulators.crc import sensirion_crc8
from simulators.loops import block_loop
from simulators.scenario import make_van
from simulators.world import World


def test_scd41_and_pms5003_report_the_fields_at_the_van() -> None:
    traj = block_loop()
    van, _ = make_van(traj, seed=9, tail_s=10.0)
    world = World(van, wake_on_uart=False)
    t0 = van.gnss.start_utc.timestamp()
    with Path(world.ptys["pms"].path).open("rb", buffering=0) as pms_reader:
        world.handle(0x10, bytes([0x62, 0x21, 0xB1]))  # start periodic measurement at t = 0
        checked = 0
        for k in range(1, 12):
            world.handle(0x03, struct.pack("<I", 5000 * k + 100))
            world.handle(0x10, bytes([0x62, 0xEC, 0x05]))
            _, raw = world.handle(0x11, struct.pack("<BH", 0x62, 9))
            words = []
            for i in range(0, 9, 3):
                assert sensirion_crc8(raw[i : i + 2]) == raw[i + 2]
                words.append(raw[i] << 8 | raw[i + 1])
            t = 5.0 * k
            x, y = traj.xy_at(traj.distance_at(t))
            expected = float(van.air.co2(x, y, t0 + t))
            assert words[0] == round(expected)
            temp, _ = van.air.weather(t0 + t)
            assert -45 + 175 * words[1] / 65535 == pytest.approx(temp, abs=0.01)
            checked += 1
        frames = pms_reader.read(65536)
    world.close()
    assert checked == 11
    frames = frames[frames.find(b"\x42\x4d") :]
    n = len(frames) // 32
    assert n >= 20
    for i in range(n):
        fr = frames[32 * i : 32 * i + 32]
        pm25_atm = struct.unpack(">H", fr[12:14])[0]  # the "atmospheric" PM2.5 word
        t = world.pms.warmup_s + i  # one frame each whole second once warmed up
        x, y = traj.xy_at(traj.distance_at(t))
        _, pm25, _ = van.air.pm(np.array([x]), np.array([y]), t0 + t)
        assert pm25_atm == round(float(pm25[0]))
