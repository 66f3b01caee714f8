"""Plantower PMS5003 particle sensor on a serial line: 32-byte frames, active or passive mode.

Frame: ``0x42 0x4D``, frame length 28 (big-endian), 13 big-endian data words (PM1.0/PM2.5/PM10
"CF=1", the same "atmospheric", particle counts >0.3/0.5/1.0/2.5/5.0/10 µm per 0.1 L, reserved),
then the checksum: the 16-bit sum of the 30 bytes before it. In active mode (the default) one
frame a second; commands from the host (``42 4D cmd dataH dataL lrcH lrcL``) switch to passive
mode (0xE1 00), request a frame in passive mode (0xE2), sleep/wake (0xE4 00/01).
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from simulators.crc import sum16

FRAME_LEN = 32


def frame(pm1: float, pm25: float, pm10: float) -> bytes:
    """One frame for mass concentrations in µg/m³ (counts derived from them)."""
    atm = [max(0, min(0xFFFF, round(v))) for v in (pm1, pm25, pm10)]
    # indoor "CF=1" readings equal the atmospheric ones below ~30 µg/m³ and exceed them above
    cf1 = [v if v < 30 else round(v * 1.2 - 6) for v in atm]
    counts = [
        round(60 * pm1 + 30),
        round(18 * pm1 + 10),
        round(3 * pm25 + 2),
        round(0.4 * pm25),
        round(0.2 * max(pm10 - pm25, 0)),
        round(0.05 * max(pm10 - pm25, 0)),
    ]
    words = [min(0xFFFF, max(0, w)) for w in (*cf1, *atm, *counts, 0x9700)]
    body = b"\x42\x4d" + struct.pack(">H", 2 * 13 + 2) + struct.pack(">13H", *words)
    return body + struct.pack(">H", sum16(body))


def command_frame(cmd: int, data: int) -> bytes:
    body = bytes([0x42, 0x4D, cmd, (data >> 8) & 0xFF, data & 0xFF])
    return body + struct.pack(">H", sum16(body))


class Pms5003:
    """``sample(t) -> (pm1, pm2_5, pm10)`` in µg/m³ is the air at the inlet."""

    def __init__(self, sample: Callable[[float], tuple[float, float, float]], warmup_s: float = 30.0) -> None:
        self.sample = sample
        self.warmup_s = warmup_s
        self.active = True
        self.asleep = False
        self.next_frame = 1.0
        self.now = 0.0
        self.pending = bytearray()
        self._rx = bytearray()
        self.frames_sent = 0

    def advance(self, t: float) -> bytes:
        """Bytes emitted up to simulated time ``t``."""
        self.now = max(self.now, t)
        while self.next_frame <= self.now:
            if self.active and not self.asleep and self.next_frame >= self.warmup_s:
                self.pending += frame(*self.sample(self.next_frame))
                self.frames_sent += 1
            self.next_frame += 1.0
        out, self.pending = bytes(self.pending), bytearray()
        return out

    def receive(self, data: bytes) -> None:
        self._rx += data
        while len(self._rx) >= 7:
            start = self._rx.find(b"\x42\x4d")
            if start < 0:
                self._rx.clear()
                return
            del self._rx[:start]
            if len(self._rx) < 7:
                return
            cmd, hi, lo = self._rx[2], self._rx[3], self._rx[4]
            ok = sum16(bytes(self._rx[:5])) == (self._rx[5] << 8 | self._rx[6])
            del self._rx[:7]
            if ok:
                self._command(cmd, hi << 8 | lo)

    def _command(self, cmd: int, data: int) -> None:
        if cmd == 0xE1:
            self.active = bool(data & 1)
        elif cmd == 0xE2 and not self.active and not self.asleep:
            self.pending += frame(*self.sample(self.now))
            self.frames_sent += 1
        elif cmd == 0xE4:
            self.asleep = not (data & 1)
            if not self.asleep:
                self.next_frame = self.now + self.warmup_s
