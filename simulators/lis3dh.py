"""LIS3DH accelerometer at register level, as its datasheet describes, fed by an acceleration source.

Emulated: WHO_AM_I (0x33); CTRL_REG1 ODR/LPen/axis enables; CTRL_REG4 BDU/FS/HR (sensitivity and
resolution: 8-bit low-power, 10-bit normal, 12-bit high-resolution, left-justified two's
complement); CTRL_REG5 BOOT/FIFO_EN; STATUS_REG ZYXDA/ZYXOR; the 32-level FIFO in bypass, FIFO,
stream and stream-to-FIFO modes with FIFO_SRC_REG (WTM, OVRN_FIFO, EMPTY, FSS); register
auto-increment when bit 7 of the sub-address is set, rolling back from OUT_Z_H to OUT_X_L while
the FIFO is enabled so a burst read of ``6·k`` bytes pops ``k`` samples. Samples are produced on
the chip's own ODR grid from the moment CTRL_REG1 selects a rate.
"""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np
import numpy.typing as npt

ADDRESS = 0x18
WHO_AM_I = 0x0F
CTRL_REG1 = 0x20
CTRL_REG4 = 0x23
CTRL_REG5 = 0x24
STATUS_REG = 0x27
OUT_X_L = 0x28
OUT_Z_H = 0x2D
FIFO_CTRL_REG = 0x2E
FIFO_SRC_REG = 0x2F
FIFO_DEPTH = 32
AHEAD_S = 10.0  # seconds of samples computed and encoded at a time

ODR_HZ = {1: 1.0, 2: 10.0, 3: 25.0, 4: 50.0, 5: 100.0, 6: 200.0, 7: 400.0, 8: 1600.0, 9: 1344.0}
FULL_SCALE_G = {0: 2, 1: 4, 2: 8, 3: 16}
# mg/digit for (mode, fs): datasheet table 4
SENSITIVITY_MG = {
    "hr": {0: 1.0, 1: 2.0, 2: 4.0, 3: 12.0},
    "normal": {0: 4.0, 1: 8.0, 2: 16.0, 3: 48.0},
    "lp": {0: 16.0, 1: 32.0, 2: 64.0, 3: 192.0},
}
BITS = {"hr": 12, "normal": 10, "lp": 8}


class AccelerationSource(Protocol):
    def output(self, times: npt.ArrayLike, odr_hz: float = 100.0) -> npt.NDArray[np.float64]: ...


class Lis3dh:
    """Register-level LIS3DH; ``advance(t)`` produces the samples due by simulated time ``t``."""

    def __init__(self, source: AccelerationSource) -> None:
        self.source = source
        self.regs = bytearray(0x40)
        self._reset_registers()
        self.pointer = 0
        self.auto_increment = False
        self.fifo = bytearray()  # 6 bytes per sample set, oldest first
        self.current = bytes(6)
        self.overrun = False
        self.odr_start = 0.0
        self.next_sample = 0  # index on the ODR grid of the next sample to produce
        self.now = 0.0
        self.samples_produced = 0
        self.samples_lost = 0
        self._enc_cache: tuple[int, tuple[int, int], bytes] = (0, (-1, -1), b"")

    def _reset_registers(self) -> None:
        self.regs[:] = bytes(0x40)
        self.regs[WHO_AM_I] = 0x33
        self.regs[CTRL_REG1] = 0x07
        self.regs[0x1F] = 0x00

    # ---- configuration views
    @property
    def odr_hz(self) -> float:
        return ODR_HZ.get(self.regs[CTRL_REG1] >> 4, 0.0)

    @property
    def mode(self) -> str:
        if self.regs[CTRL_REG1] & 0x08:
            return "lp"
        return "hr" if self.regs[CTRL_REG4] & 0x08 else "normal"

    @property
    def fifo_enabled(self) -> bool:
        return bool(self.regs[CTRL_REG5] & 0x40)

    @property
    def fifo_mode(self) -> int:
        return self.regs[FIFO_CTRL_REG] >> 6 if self.fifo_enabled else 0

    # ---- time
    def advance(self, t: float) -> None:
        if t <= self.now:
            return
        self.now = t
        odr = self.odr_hz
        if odr <= 0.0:
            return
        last = math.floor((t - self.odr_start) * odr + 1e-9)
        if last < self.next_sample:
            return
        first = self.next_sample
        count = last - first + 1
        self.next_sample = last + 1
        keep = min(count, FIFO_DEPTH + 1)
        mode = self.fifo_mode
        if count > keep and mode:  # older samples would have been overwritten anyway
            self.samples_lost += count - keep
            self.overrun = True
        self._store(self._encoded(last - keep + 1, last + 1, odr), keep, mode)
        self.samples_produced += count

    def _encoded(self, first: int, end: int, odr: float) -> bytes:
        """Output-register bytes of ODR-grid samples ``first``..``end-1``, encoded ``AHEAD_S`` at a
        time with the configuration of the moment (a write to CTRL_REG1/CTRL_REG4 starts afresh)."""
        key = (self.regs[CTRL_REG1], self.regs[CTRL_REG4])
        c_first, c_key, enc = self._enc_cache
        if c_key != key or first < c_first or 6 * (end - c_first) > len(enc):
            ahead = max(end - first, int(AHEAD_S * odr))
            enc = self._encode_many(self._analog(first, first + ahead, odr))
            self._enc_cache = (first, key, enc)
            c_first = first
        return enc[6 * (first - c_first) : 6 * (end - c_first)]

    def _analog(self, first: int, end: int, odr: float) -> npt.NDArray[np.float64]:
        """Acceleration (g) of ODR-grid samples ``first``..``end-1``: the source is a function of
        time, so asking early (a block at a time) changes nothing but the cost."""
        times = self.odr_start + np.arange(first, end) / odr
        return self.source.output(times, odr)

    def _encode_many(self, g: npt.NDArray[np.float64]) -> bytes:
        """Output registers (6 bytes, little-endian, left-justified) for each row of ``g`` (g)."""
        fs = (self.regs[CTRL_REG4] >> 4) & 3
        sens = SENSITIVITY_MG[self.mode][fs]
        bits = BITS[self.mode]
        top = (1 << (bits - 1)) - 1
        raw = np.clip(np.round(g * 1000.0 / sens), -top - 1, top).astype(np.int64)
        enables = self.regs[CTRL_REG1] & 0x07
        mask = np.array([enables & 1, enables & 2, enables & 4]) != 0
        words = (raw * (1 << (16 - bits))) * mask
        return np.asarray(words, dtype="<i2").tobytes()

    def _store(self, raw: bytes, k: int, mode: int) -> None:
        """``k`` new samples (6 bytes each, oldest first) into the output registers or the FIFO."""
        status = self.regs[STATUS_REG]
        if status & 0x08 or k > 1:  # a sample set overwritten before it was read
            status |= 0x80
        self.regs[STATUS_REG] = status | 0x08
        if mode == 0:
            self.current = raw[-6:]
            return
        fifo = self.fifo
        room = 6 * FIFO_DEPTH - len(fifo)
        if len(raw) > room:
            self.overrun = True
            self.samples_lost += (len(raw) - room) // 6
            if mode == 1:  # FIFO mode stops collecting when full
                fifo += raw[:room]
                return
        fifo += raw  # stream modes: the newest replace the oldest
        if len(fifo) > 6 * FIFO_DEPTH:
            del fifo[: len(fifo) - 6 * FIFO_DEPTH]

    # ---- bus transactions
    def write(self, data: bytes) -> None:
        if not data:
            return
        self.pointer = data[0] & 0x7F
        self.auto_increment = bool(data[0] & 0x80)
        for byte in data[1:]:
            self._write_register(self.pointer, byte)
            if self.auto_increment:
                self.pointer = (self.pointer + 1) & 0x3F

    def _write_register(self, reg: int, value: int) -> None:
        if reg in (WHO_AM_I, STATUS_REG, FIFO_SRC_REG) or OUT_X_L <= reg <= OUT_Z_H:
            return  # read-only
        old_odr = self.odr_hz
        self.regs[reg] = value
        if reg == CTRL_REG1 and self.odr_hz != old_odr:
            self.odr_start = self.now
            self.next_sample = 1
            self._enc_cache = (0, (-1, -1), b"")
        if reg == CTRL_REG5 and value & 0x80:  # BOOT: reload trimming, registers to defaults
            self._reset_registers()
        if (reg == FIFO_CTRL_REG and value >> 6 == 0) or (reg == CTRL_REG5 and not value & 0x40):
            self.fifo.clear()
            self.overrun = False

    def read(self, n: int) -> bytes:
        if self.pointer == OUT_X_L and self.auto_increment and self.fifo_mode and n % 6 == 0:
            return self._burst(n // 6)  # the usual FIFO drain, without the per-byte walk
        out = bytearray()
        for _ in range(n):
            reg = self.pointer
            out.append(self._read_register(reg))
            if not self.auto_increment:
                continue
            if reg == OUT_Z_H and self.fifo_enabled:
                self.pointer = OUT_X_L
            else:
                self.pointer = (self.pointer + 1) & 0x3F
        return bytes(out)

    def _burst(self, k: int) -> bytes:
        fifo = self.fifo
        take = min(k, len(fifo) // 6)
        out = bytes(fifo[: 6 * take])
        if take:
            del fifo[: 6 * take]
            self.current = out[-6:]
            self.overrun = False
        self.regs[STATUS_REG] &= 0x77
        return out + self.current * (k - take)  # an empty FIFO repeats the last sample set

    def _read_register(self, reg: int) -> int:
        if OUT_X_L <= reg <= OUT_Z_H:
            if self.fifo_mode and reg == OUT_X_L and self.fifo:
                self.current = bytes(self.fifo[:6])
                del self.fifo[:6]
                self.overrun = False  # no longer full once a sample set has been read
            value = self.current[reg - OUT_X_L]
            if reg == OUT_Z_H:
                self.regs[STATUS_REG] &= 0x77
            return value
        if reg == FIFO_SRC_REG:
            n = len(self.fifo) // 6
            wtm = self.regs[FIFO_CTRL_REG] & 0x1F
            return (
                (0x80 if self.fifo_mode and n > wtm else 0)
                | (0x40 if self.overrun else 0)
                | (0x20 if n == 0 else 0)
                | min(n, 31)
            )
        return self.regs[reg]
