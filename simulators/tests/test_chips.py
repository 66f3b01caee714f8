"""Chips at register/frame level, checked the way a datasheet-correct driver would use them."""

from __future__ import annotations

import struct

import numpy as np
import numpy.typing as npt
import pytest

from simulators import lis3dh
from simulators.crc import sensirion_crc8, sum16
from simulators.depot_wifi import DepotWifi
from simulators.fields import AirField, CoverageField, UrbanLayout
from simulators.i2c_bus import I2CBus, NoDeviceError
from simulators.modem import Modem, Radio, rsrp_index, rsrq_index
from simulators.pms5003 import Pms5003, command_frame
from simulators.scd41 import Scd41


class Constant:
    """An acceleration source that always reads the same vector (g)."""

    def __init__(self, g: tuple[float, float, float]) -> None:
        self.g = np.array(g)
        self.requests = 0

    def output(self, times: npt.ArrayLike, odr_hz: float = 100.0) -> npt.NDArray[np.float64]:
        t = np.asarray(times, dtype=np.float64)
        self.requests += len(t)
        return np.tile(self.g, (len(t), 1)) + t[:, None] * 0.0


def lis3dh_bus(g: tuple[float, float, float]) -> I2CBus:
    bus = I2CBus()
    bus.attach(lis3dh.ADDRESS, lis3dh.Lis3dh(Constant(g)))
    return bus


def decode(raw: bytes, mg_per_digit: float, bits: int) -> list[tuple[float, float, float]]:
    out = []
    for k in range(len(raw) // 6):
        words = struct.unpack("<3h", raw[6 * k : 6 * k + 6])
        out.append(tuple(w / (1 << (16 - bits)) * mg_per_digit / 1000.0 for w in words))
    return out


def test_lis3dh_identity_and_missing_devices_nack() -> None:
    bus = lis3dh_bus((0.0, 0.0, 1.0))
    assert bus.read_mem(0x18, 0x0F, 1) == b"\x33"
    with pytest.raises(NoDeviceError):
        bus.read_mem(0x19, 0x0F, 1)


def test_lis3dh_fifo_stream_at_100hz_high_resolution_4g() -> None:
    bus = lis3dh_bus((0.1, -0.25, 1.02))
    bus.write_mem(0x18, 0x20, bytes([0x57]))  # 100 Hz, XYZ
    bus.write_mem(0x18, 0x23, bytes([0x18]))  # ±4 g, HR
    bus.write_mem(0x18, 0x24, bytes([0x40]))  # FIFO_EN
    bus.write_mem(0x18, 0x2E, bytes([0x80]))  # stream
    bus.advance(0.105)
    src = bus.read_mem(0x18, 0x2F, 1)[0]
    assert src & 0x1F == 10 and not src & 0x40
    samples = decode(bus.read_mem(0x18, 0xA8, 6 * 10), 2.0, 12)
    assert len(samples) == 10
    for x, y, z in samples:
        assert (x, y, z) == pytest.approx((0.1, -0.25, 1.02), abs=0.002)
    assert bus.read_mem(0x18, 0x2F, 1)[0] & 0x20  # empty now


def test_lis3dh_fifo_overrun_when_not_read_in_time() -> None:
    bus = lis3dh_bus((0.0, 0.0, 1.0))
    for reg, val in ((0x20, 0x57), (0x23, 0x18), (0x24, 0x40), (0x2E, 0x80)):
        bus.write_mem(0x18, reg, bytes([val]))
    bus.advance(1.0)  # 100 samples, the FIFO holds 32
    src = bus.read_mem(0x18, 0x2F, 1)[0]
    assert src & 0x40 and src & 0x1F == 31
    dev = bus.devices[0x18]
    assert isinstance(dev, lis3dh.Lis3dh)
    assert dev.samples_lost == 100 - 32
    bus.read_mem(0x18, 0xA8, 6)
    assert not bus.read_mem(0x18, 0x2F, 1)[0] & 0x40


def test_lis3dh_bypass_normal_mode_2g_reads_the_latest_sample() -> None:
    bus = lis3dh_bus((0.5, 0.0, -0.75))
    bus.write_mem(0x18, 0x20, bytes([0x67]))  # 200 Hz
    bus.advance(0.5)
    assert bus.read_mem(0x18, 0x27, 1)[0] & 0x08  # ZYXDA
    (x, y, z), *_ = decode(bus.read_mem(0x18, 0xA8, 6), 4.0, 10)
    assert (x, y, z) == pytest.approx((0.5, 0.0, -0.75), abs=0.004)


def scd41_bus(co2: float = 612.0, temp: float = 21.5, rh: float = 48.0) -> I2CBus:
    bus = I2CBus()
    bus.attach(0x62, Scd41(lambda t: (co2, temp, rh)))
    return bus


def words(reply: bytes) -> list[int]:
    out = []
    for k in range(0, len(reply), 3):
        assert sensirion_crc8(reply[k : k + 2]) == reply[k + 2]
        out.append(reply[k] << 8 | reply[k + 1])
    return out


def test_scd41_periodic_measurement_with_valid_crcs() -> None:
    bus = scd41_bus()
    assert sensirion_crc8(b"\xbe\xef") == 0x92  # the datasheet's worked example
    bus.write(0x62, b"\x36\x82")
    assert len(words(bus.read(0x62, 9))) == 3
    bus.write(0x62, b"\x21\xb1")
    bus.advance(4.0)
    bus.write(0x62, b"\xe4\xb8")
    assert words(bus.read(0x62, 3))[0] & 0x07FF == 0
    bus.advance(5.0)
    bus.write(0x62, b"\xe4\xb8")
    assert words(bus.read(0x62, 3))[0] & 0x07FF != 0
    bus.write(0x62, b"\xec\x05")
    co2, t_raw, rh_raw = words(bus.read(0x62, 9))
    assert co2 == 612
    assert -45 + 175 * t_raw / 65535 == pytest.approx(21.5, abs=0.01)
    assert 100 * rh_raw / 65535 == pytest.approx(48.0, abs=0.01)
    bus.write(0x62, b"\xe4\xb8")
    assert words(bus.read(0x62, 3))[0] & 0x07FF == 0  # read clears data ready


def test_pms5003_frames_have_valid_checksums_and_values() -> None:
    pms = Pms5003(lambda t: (7.0, 12.4, 20.6), warmup_s=0.0)
    data = pms.advance(10.0)
    assert len(data) == 10 * 32
    for k in range(10):
        fr = data[32 * k : 32 * k + 32]
        assert fr[:2] == b"\x42\x4d" and struct.unpack(">H", fr[2:4])[0] == 28
        assert struct.unpack(">H", fr[30:32])[0] == sum16(fr[:30])
        vals = struct.unpack(">13H", fr[4:30])
        assert vals[3:6] == (7, 12, 21)
    pms.receive(command_frame(0xE1, 0))  # passive
    assert pms.advance(20.0) == b""
    pms.receive(command_frame(0xE2, 0))
    assert len(pms.advance(20.0)) == 32


def test_modem_answers_3gpp_and_quectel_queries() -> None:
    radio: list[Radio | None] = [Radio(rsrp=-95.4, rsrq=-11.2, sinr=8.0)]
    modem = Modem(lambda t: radio[0], operator="Elisa")
    modem.receive(b"ATE0\r")
    assert modem.advance(1.0) == b"ATE0\r\r\nOK\r\n"
    modem.receive(b"AT+CESQ\r")
    assert modem.advance(2.0) == b"\r\n+CESQ: 99,99,255,255,17,45\r\n\r\nOK\r\n"
    assert rsrp_index(-95.4) == 45 and rsrq_index(-11.2) == 17
    modem.receive(b"AT+COPS?\r")
    assert b'+COPS: 0,0,"Elisa",7' in modem.advance(3.0)
    radio[0] = None
    modem.receive(b"AT+QCSQ\rAT+CESQ\rAT+FOO\r")
    out = modem.advance(4.0)
    assert b'+QCSQ: "NOSERVICE"' in out and b"+CESQ: 99,99,255,255,255,255" in out
    assert out.endswith(b"\r\nERROR\r\n")


def test_depot_wifi_only_inside_the_geofence() -> None:
    wifi = DepotWifi(0.0, 0.0, radius_m=50.0)
    wifi.move_van(10.0, 10.0)
    assert [s for s, _ in wifi.scan()] == ["facteur-depot"]
    assert wifi.connect("facteur-depot")
    wifi.move_van(80.0, 0.0)
    assert wifi.scan() == [] and not wifi.connected
    assert not wifi.connect("facteur-depot")


def test_air_is_worse_by_main_roads_and_junctions_and_coverage_has_holes() -> None:
    road = np.stack([np.linspace(-1000, 1000, 201), np.zeros(201)], axis=1)
    layout = UrbanLayout.from_points(road, [[0.0, 0.0]])
    air = AirField(layout, seed=3)
    t = 1.78e9
    _, at_junction, _ = air.pm(np.array([0.0]), np.array([0.0]), t)
    _, on_road, _ = air.pm(np.array([600.0]), np.array([0.0]), t)
    _, away, _ = air.pm(np.array([600.0]), np.array([400.0]), t)
    assert at_junction[0] > on_road[0] > away[0]
    assert (
        air.co2(np.array([0.0]), np.array([0.0]), t)[0] > air.co2(np.array([600.0]), np.array([400.0]), t)[0]
    )
    assert air.day_factor(t) != air.day_factor(t + 86_400)
    cov = CoverageField([[0.0, 0.0]], holes=[(500.0, 0.0, 100.0)])
    assert cov.radio(500.0, 50.0) is None
    near, far = cov.radio(50.0, 0.0), cov.radio(-1500.0, 0.0)
    assert near is not None and far is not None and near.rsrp > far.rsrp
