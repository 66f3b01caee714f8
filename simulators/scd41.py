"""Sensirion SCD41 (CO2, temperature, humidity) at command level on the simulated I2C bus.

Commands are 16-bit words written big-endian; replies are 16-bit words each followed by its
CRC-8 (0x31, init 0xFF). Emulated: start/stop periodic measurement (a new sample every 5 s from
the start), get_data_ready_status, read_measurement (clears data ready), get_serial_number,
perform_factory_reset / reinit (accepted), and the ``single shot`` command. A read with no reply
pending, or a command during periodic measurement that the datasheet forbids, is NACKed the way
the HAL sees a missing device. Values come from a field sampler called with the simulated time.
"""

from __future__ import annotations

from collections.abc import Callable

from simulators.crc import sensirion_crc8

ADDRESS = 0x62
START_PERIODIC = 0x21B1
STOP_PERIODIC = 0x3F86
DATA_READY = 0xE4B8
READ_MEASUREMENT = 0xEC05
SERIAL_NUMBER = 0x3682
MEASURE_SINGLE_SHOT = 0x219D
REINIT = 0x3646
PERIOD_S = 5.0
ALLOWED_WHILE_PERIODIC = {STOP_PERIODIC, DATA_READY, READ_MEASUREMENT, 0x241D, 0x2416, 0xE000}


def encode_words(words: list[int]) -> bytes:
    out = bytearray()
    for w in words:
        pair = bytes([(w >> 8) & 0xFF, w & 0xFF])
        out += pair + bytes([sensirion_crc8(pair)])
    return bytes(out)


class Scd41:
    """``sample(t) -> (co2_ppm, temperature_c, rh_percent)`` gives the truth at the sensor."""

    def __init__(
        self, sample: Callable[[float], tuple[float, float, float]], serial: int = 0x0BEEF0CAFE42
    ) -> None:
        self.sample = sample
        self.serial = serial
        self.now = 0.0
        self.periodic = False
        self.started_at = 0.0
        self.last_index = 0  # index of the last measurement produced
        self.read_index = 0  # index of the last measurement read
        self.latest = (0, 0, 0)
        self.reply = b""
        self.errors = 0

    def advance(self, t: float) -> None:
        self.now = max(self.now, t)
        if self.periodic:
            k = int((self.now - self.started_at) / PERIOD_S + 1e-9)
            if k > self.last_index:
                self.last_index = k
                self.latest = self._measure(self.started_at + k * PERIOD_S)

    def _measure(self, t: float) -> tuple[int, int, int]:
        co2, temp, rh = self.sample(t)
        w_co2 = max(0, min(40_000, round(co2)))
        w_t = max(0, min(0xFFFF, round((temp + 45.0) * 65535.0 / 175.0)))
        w_rh = max(0, min(0xFFFF, round(rh * 65535.0 / 100.0)))
        return (w_co2, w_t, w_rh)

    def write(self, data: bytes) -> None:
        if len(data) < 2:
            self.errors += 1
            return
        cmd = (data[0] << 8) | data[1]
        if self.periodic and cmd not in ALLOWED_WHILE_PERIODIC:
            self.errors += 1
            raise OSError("SCD41 busy in periodic measurement")
        self.reply = b""
        if cmd == START_PERIODIC:
            self.periodic = True
            self.started_at = self.now
            self.last_index = self.read_index = 0
        elif cmd == STOP_PERIODIC:
            self.periodic = False
        elif cmd == DATA_READY:
            ready = self.periodic and self.last_index > self.read_index
            self.reply = encode_words([0x8006 if ready else 0x8000])
        elif cmd == READ_MEASUREMENT:
            self.read_index = self.last_index
            self.reply = encode_words(list(self.latest))
        elif cmd == SERIAL_NUMBER:
            s = self.serial
            self.reply = encode_words([(s >> 32) & 0xFFFF, (s >> 16) & 0xFFFF, s & 0xFFFF])
        elif cmd == MEASURE_SINGLE_SHOT:
            self.latest = self._measure(self.now)
            self.last_index = self.read_index + 1
        elif cmd == REINIT:
            pass
        else:
            self.errors += 1

    def read(self, n: int) -> bytes:
        if not self.reply:
            raise OSError("SCD41 has no reply pending")
        out, self.reply = self.reply[:n], b""
        return out + bytes(max(0, n - len(out)))
