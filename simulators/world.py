"""One van's simulated world: the clock, its devices on ptys and I2C, Wi-Fi, and the link ops.

A :class:`World` owns a :class:`SimClock` and every device of one van, all fed by the same truth
(trajectory, road profile, fields). ``advance_to(t)`` moves the world forward, writing each
UART's bytes into its pty as they fall due (a GNSS burst 50 ms after each epoch, a PMS5003 frame a
second, modem replies 50 ms after a command) and bringing the I2C chips and Wi-Fi to time ``t``.
With ``wake_on_uart`` a sleep ends early at the first UART byte, as a blocking read would.
``handle(op, payload)`` implements the host link operations of ``firmware/hal/HOSTLINK.md``.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import select
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from simulators.accel import AccelSource
from simulators.clock import SimClock
from simulators.depot_wifi import DepotWifi
from simulators.fields import AirField, CoverageField
from simulators.i2c_bus import I2CBus
from simulators.lis3dh import ADDRESS as LIS3DH_ADDRESS
from simulators.lis3dh import Lis3dh
from simulators.modem import Modem, Radio
from simulators.pms5003 import Pms5003
from simulators.pty_serial import PtySerial
from simulators.scd41 import ADDRESS as SCD41_ADDRESS
from simulators.scd41 import Scd41
from simulators.trajectory import Trajectory

OP_HELLO, OP_NOW, OP_SLEEP_UNTIL = 0x01, 0x02, 0x03
OP_I2C_WRITE, OP_I2C_READ, OP_I2C_READ_MEM, OP_I2C_WRITE_MEM = 0x10, 0x11, 0x12, 0x13
OP_WIFI_SCAN, OP_WIFI_CONNECT, OP_WIFI_STATUS = 0x20, 0x21, 0x22
OP_LOG = 0x30
STATUS_OK, STATUS_NACK, STATUS_END = 0, 1, 2
UART_LATENCY_S = 0.05
LINK_VERSION = 1


class GnssSource(Protocol):
    """What the world needs from a GNSS: bursts of bytes at known times (generated or replayed)."""

    @property
    def start_utc(self) -> dt.datetime: ...

    @property
    def n_epochs(self) -> int: ...

    def epoch_time(self, k: int) -> float: ...

    def epoch(self, k: int) -> bytes: ...


@dataclass(slots=True)
class Van:
    """Everything one van's simulators are made of (the truth they all share)."""

    traj: Trajectory
    gnss: GnssSource
    accel: AccelSource
    air: AirField
    coverage: CoverageField
    wifi: DepotWifi
    name: str = "van-1"
    tail_s: float = 600.0  # time parked at the depot after the round, for the upload


@dataclass(slots=True)
class LinkStats:
    requests: dict[int, int] = field(default_factory=dict)
    logs: list[tuple[float, str]] = field(default_factory=list)
    firmware: str = ""


class World:
    def __init__(
        self, van: Van, *, realtime: bool = False, speed: float = 1.0, wake_on_uart: bool = True
    ) -> None:
        self.van = van
        self.clock = SimClock(van.gnss.start_utc, realtime=realtime, speed=speed)
        self.end_t = van.traj.duration + van.tail_s
        self.wake_on_uart = wake_on_uart
        self.bus = I2CBus()
        self.lis3dh = Lis3dh(van.accel)
        self.scd41 = Scd41(self._co2_sample)
        self.bus.attach(LIS3DH_ADDRESS, self.lis3dh)
        self.bus.attach(SCD41_ADDRESS, self.scd41)
        self._air_track()
        self.pms = Pms5003(self._pm_sample)
        self.modem = Modem(self._radio)
        self.ptys = {"gnss": PtySerial(), "pms": PtySerial(), "modem": PtySerial()}
        # one poll() tells whether the firmware wrote to a device (two reads a step otherwise)
        self._uart_in = select.poll()
        for name in ("modem", "pms"):
            self._uart_in.register(self.ptys[name].master, select.POLLIN)
        self._next_epoch = 0
        self._modem_due: list[float] = []
        self.stats = LinkStats()
        self.finished = False

    # ---- truth at the van
    def position(self, t: float) -> tuple[float, float]:
        x, y = self.van.traj.xy_at(self.van.traj.distance_at(t))
        return float(x), float(y)

    def _air_track(self) -> None:
        """The air at the van every second of the scenario, computed once (the fields are exact at
        whole seconds, linear in between)."""
        grid = np.arange(0.0, self.end_t + 2.0, 1.0)
        x, y = self.van.traj.xy_at(self.van.traj.distance_at(grid))
        utc = self.clock.start_utc.timestamp() + grid
        self._air_grid = grid
        self._pm_track = np.stack(self.van.air.pm(x, y, utc), axis=1)
        self._co2_track = self.van.air.co2(x, y, utc)

    def _co2_sample(self, t: float) -> tuple[float, float, float]:
        utc = self.clock.start_utc.timestamp() + t
        temp, rh = self.van.air.weather(utc)
        return float(self._on_grid(t, self._co2_track)), temp, rh

    def _pm_sample(self, t: float) -> tuple[float, float, float]:
        a, b, c = self._on_grid(t, self._pm_track)
        return float(a), float(b), float(c)

    def _on_grid(self, t: float, track: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Linear interpolation on the whole-second grid of ``_air_track`` (clamped at its ends): an
        index, not a search (np.interp on a strided column copies the whole round's track)."""
        last = len(track) - 1
        x = min(max(t, 0.0), float(last))
        i = min(int(x), last - 1) if last > 0 else 0
        f = x - i
        out: npt.NDArray[np.float64] = track[i] if f <= 0.0 else track[i] * (1.0 - f) + track[i + 1] * f
        return out

    def _radio(self, t: float) -> Radio | None:
        return self.van.coverage.radio(*self.position(t))

    # ---- time
    def _gnss_due(self) -> float:
        if self._next_epoch >= self.van.gnss.n_epochs:
            return math.inf
        return self.van.gnss.epoch_time(self._next_epoch) + UART_LATENCY_S

    def next_uart_event(self) -> float:
        due = [self._gnss_due(), self.pms.next_frame]
        due += self._modem_due
        return min(due)

    def advance_to(self, target: float) -> float:
        """Move the world to ``target`` (or to the first UART event before it); returns the new time."""
        target = min(target, self.end_t)
        t = self.clock.t
        while True:
            self._poll_modem(t)
            nxt = self.next_uart_event()
            if nxt > target:
                t = max(t, target)
                break
            t = max(t, nxt)
            self._emit_uart(t)
            if self.wake_on_uart and t > self.clock.t:
                break
        for pty in self.ptys.values():
            if pty.backlog:  # the reader has made room since the last write
                pty.flush()
        self.clock.set(t)
        self.bus.advance(t)
        if t >= self.end_t:
            self.finished = True
        return t

    def _emit_uart(self, t: float) -> None:
        while self._gnss_due() <= t:
            self.ptys["gnss"].write(self.van.gnss.epoch(self._next_epoch))
            self._next_epoch += 1
        frames = self.pms.advance(t)
        if frames:
            self.ptys["pms"].write(frames)
        if self._modem_due and self._modem_due[0] <= t:
            self._modem_due = [d for d in self._modem_due if d > t]
            self.ptys["modem"].write(self.modem.advance(t))

    def _poll_modem(self, t: float) -> None:
        if not self._uart_in.poll(0):
            if self.pms.pending:
                self.ptys["pms"].write(self.pms.advance(t))
            return
        for name, dev in (("modem", self.modem), ("pms", self.pms)):
            data = self.ptys[name].read()
            if data:
                dev.receive(data)
                if name == "modem":
                    self._modem_due.append(t + UART_LATENCY_S)
        if self.pms.pending:
            self.ptys["pms"].write(self.pms.advance(t))

    # ---- the link
    def handle(self, op: int, payload: bytes) -> tuple[int, bytes]:
        self.stats.requests[op] = self.stats.requests.get(op, 0) + 1
        ticks = struct.pack("<I", self.clock.ticks_ms)
        try:
            if op == OP_HELLO:
                if not payload or payload[0] != LINK_VERSION:
                    return 3, b"unsupported link version"
                self.clock.anchor()
                self.stats.firmware = payload[1:].decode("ascii", "replace")
                return STATUS_OK, ticks
            if op == OP_NOW:
                return STATUS_OK, ticks
            if op == OP_SLEEP_UNTIL:
                if self.finished:
                    return STATUS_END, b"end"
                (want,) = struct.unpack("<I", payload[:4])
                self.advance_to(self.clock.target_of(want))
                return STATUS_OK, struct.pack("<I", self.clock.ticks_ms)
            if op == OP_I2C_WRITE:
                self.bus.write(payload[0], payload[1:])
                return STATUS_OK, b""
            if op == OP_I2C_READ:
                addr, n = struct.unpack("<BH", payload[:3])
                return STATUS_OK, self.bus.read(addr, n)
            if op == OP_I2C_READ_MEM:
                addr, reg, n = struct.unpack("<BBH", payload[:4])
                return STATUS_OK, self.bus.read_mem(addr, reg, n)
            if op == OP_I2C_WRITE_MEM:
                self.bus.write_mem(payload[0], payload[1], payload[2:])
                return STATUS_OK, b""
            if op in (OP_WIFI_SCAN, OP_WIFI_CONNECT, OP_WIFI_STATUS):
                # the Wi-Fi is only observable through these ops: place the van when asked
                self.van.wifi.move_van(*self.position(self.clock.t))
            if op == OP_WIFI_SCAN:
                nets = self.van.wifi.scan()
                out = bytearray([len(nets)])
                for ssid, rssi in nets:
                    raw = ssid.encode()
                    out += bytes([len(raw)]) + raw + struct.pack("<b", rssi)
                return STATUS_OK, bytes(out)
            if op == OP_WIFI_CONNECT:
                ok = self.van.wifi.connect(payload.decode("ascii", "replace"))
                return STATUS_OK, bytes([ok]) + (self.van.wifi.gateway.encode() if ok else b"")
            if op == OP_WIFI_STATUS:
                return STATUS_OK, bytes([self.van.wifi.connected])
            if op == OP_LOG:
                self.stats.logs.append((self.clock.t, payload.decode("ascii", "replace")))
                return STATUS_OK, b""
        except OSError as e:  # a NACK on the bus
            return STATUS_NACK, str(e).encode("ascii", "replace")[:200]
        except (struct.error, IndexError):
            return 3, b"bad request"
        return 3, b"unknown op"

    # ---- wiring
    def wiring(self, link: str, flash_path: str, provision: str, blocks: int = 512) -> dict[str, object]:
        return {
            "link": link,
            "uart": {name: p.path for name, p in self.ptys.items()},
            "flash": {"path": flash_path, "block_size": 4096, "blocks": blocks},
            "provision": provision,
        }

    def write_wiring(self, path: Path, link: str, workdir: Path) -> Path:
        workdir.mkdir(parents=True, exist_ok=True)
        doc = self.wiring(link, str(workdir / "flash.img"), str(workdir / "provision.json"))
        path.write_text(json.dumps(doc, indent=2))
        return path

    def drain(self, timeout_s: float = 5.0) -> bool:
        """Push what the ptys could not take yet (a slow reader); True when nothing is left."""
        deadline = time.monotonic() + timeout_s
        while any(p.backlog for p in self.ptys.values()) and time.monotonic() < deadline:
            for p in self.ptys.values():
                p.flush()
            time.sleep(0.005)
        return not any(p.backlog for p in self.ptys.values())

    def close(self) -> None:
        for p in self.ptys.values():
            p.close()

    @property
    def progress(self) -> float:
        return 0.0 if self.end_t <= 0 else min(1.0, self.clock.t / self.end_t)

    def summary(self) -> dict[str, object]:
        return {
            "van": self.van.name,
            "t": round(self.clock.t, 3),
            "gnss_epochs": self._next_epoch,
            "pms_frames": self.pms.frames_sent,
            "accel_samples": self.lis3dh.samples_produced,
            "accel_lost": self.lis3dh.samples_lost,
            "uart_dropped": {n: p.dropped for n, p in self.ptys.items()},
            "requests": {f"0x{k:02x}": v for k, v in sorted(self.stats.requests.items())},
            "logs": len(self.stats.logs),
            "finished": self.finished,
            "hours": round(self.clock.t / 3600.0, 3) if math.isfinite(self.clock.t) else None,
        }
