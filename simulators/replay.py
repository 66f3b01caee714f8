"""Replay instead of generating: a recorded NMEA log (with its own timing) or a GPX track.

An NMEA log is cut into epochs at each sentence that carries a UTC time (RMC, GGA, GLL, ZDA);
the sentences without time (GSA, GSV, VTG, ...) travel with the epoch they follow. Each epoch is
served at its recorded time relative to the first (crossing midnight is handled), so the
firmware sees the log's real rhythm, gaps included; bytes are replayed exactly as recorded,
damaged lines too. The fixes in the log also make a trajectory, so the other sensors (road,
air, Wi-Fi) can run along the same path. A GPX track becomes the truth trajectory itself, and
the GNSS generator then runs on it as on a generated round.

    >>> log = NmeaLog.read(Path("drive.nmea"))
    >>> traj = log.trajectory(frame)
"""

from __future__ import annotations

import datetime as dt
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pynmea2  # type: ignore[import-untyped,unused-ignore]

from simulators.geo import LocalFrame
from simulators.pty_serial import PtySerial
from simulators.trajectory import Trajectory

TIMED = ("RMC", "GGA", "GLL", "ZDA")


def _seconds(hhmmss: str) -> float | None:
    try:
        return int(hhmmss[0:2]) * 3600 + int(hhmmss[2:4]) * 60 + float(hhmmss[4:])
    except (ValueError, IndexError):
        return None


@dataclass(slots=True)
class NmeaLog:
    """Epochs of raw bytes at their times (s from the first), and the fixes found in them."""

    times: list[float]
    chunks: list[bytes]
    start_utc: dt.datetime
    fix_t: list[float]
    fix_lat: list[float]
    fix_lon: list[float]

    @classmethod
    def parse(cls, data: bytes) -> NmeaLog:
        times: list[float] = []
        chunks: list[bytearray] = []
        fix_t: list[float] = []
        fix_lat: list[float] = []
        fix_lon: list[float] = []
        first: float | None = None
        day_offset = 0.0
        last_tod: float | None = None
        date: dt.date | None = None
        current = 0.0
        for raw in data.splitlines(keepends=True):
            line = raw.decode("ascii", "replace").strip()
            kind = line[3:6] if line.startswith("$") and len(line) > 6 else ""
            tod = None
            if kind in TIMED:
                field = line.split(",")[1] if "," in line else ""
                tod = _seconds(field) if field else None
            if tod is not None:
                if last_tod is not None and tod + 43_200 < last_tod:
                    day_offset += 86_400  # midnight
                last_tod = tod
                if first is None:
                    first = tod
                t = tod + day_offset - first
                if not times or t > current:
                    current = t
                    times.append(t)
                    chunks.append(bytearray())
            if not chunks:
                times.append(0.0)
                chunks.append(bytearray())
            chunks[-1] += raw
            if kind in ("RMC", "GGA") and tod is not None:
                try:
                    msg = pynmea2.parse(line, check=True)
                except (pynmea2.ParseError, pynmea2.ChecksumError, ValueError):
                    continue
                if kind == "RMC" and getattr(msg, "datestamp", None) and date is None:
                    date = msg.datestamp
                ok = msg.status == "A" if kind == "RMC" else int(msg.gps_qual or 0) > 0
                if ok and (not fix_t or fix_t[-1] != current):
                    fix_t.append(current)
                    fix_lat.append(float(msg.latitude))
                    fix_lon.append(float(msg.longitude))
        base = dt.datetime.combine(date or dt.date(2026, 1, 1), dt.time(), tzinfo=dt.UTC)
        start = base + dt.timedelta(seconds=first or 0.0)
        return cls(times, [bytes(c) for c in chunks], start, fix_t, fix_lat, fix_lon)

    @classmethod
    def read(cls, path: Path) -> NmeaLog:
        return cls.parse(path.read_bytes())

    # the GNSS source interface the world uses
    @property
    def n_epochs(self) -> int:
        return len(self.times)

    def epoch_time(self, k: int) -> float:
        return self.times[k]

    def epoch(self, k: int) -> bytes:
        return self.chunks[k]

    def trajectory(self, frame: LocalFrame | None = None) -> Trajectory:
        if not self.fix_t:
            raise ValueError("the log has no fix to make a trajectory from")
        frame = frame or LocalFrame(self.fix_lon[0], self.fix_lat[0])
        x, y = frame.to_xy(self.fix_lon, self.fix_lat)
        return Trajectory.from_timed_points(frame, self.fix_t, np.stack([x, y], axis=1))


def read_gpx(path: Path, frame: LocalFrame | None = None) -> tuple[Trajectory, dt.datetime]:
    """The track points of a GPX file (all tracks and segments, in order) as a trajectory."""
    root = ET.parse(path).getroot()
    ns = root.tag.split("}")[0] + "}" if root.tag.startswith("{") else ""
    lat, lon, when = [], [], []
    for pt in root.iter(f"{ns}trkpt"):
        tel = pt.find(f"{ns}time")
        if tel is None or not tel.text:
            continue
        lat.append(float(pt.attrib["lat"]))
        lon.append(float(pt.attrib["lon"]))
        when.append(dt.datetime.fromisoformat(tel.text.strip().replace("Z", "+00:00")))
    if len(lat) < 2:
        raise ValueError(f"{path}: fewer than two timed track points")
    frame = frame or LocalFrame(lon[0], lat[0])
    x, y = frame.to_xy(lon, lat)
    t = [(w - when[0]).total_seconds() for w in when]
    return Trajectory.from_timed_points(frame, t, np.stack([x, y], axis=1)), when[0]


def write_gpx(path: Path, traj: Trajectory, start_utc: dt.datetime, every_s: float = 1.0) -> Path:
    """The truth as a GPX track (what a phone logger would have recorded)."""
    tr = traj.sample(np.arange(0.0, traj.duration, every_s))
    pts = "".join(
        f'<trkpt lat="{la:.8f}" lon="{lo:.8f}"><time>'
        f"{(start_utc + dt.timedelta(seconds=float(t))).isoformat().replace('+00:00', 'Z')}</time></trkpt>"
        for la, lo, t in zip(tr.lat, tr.lon, tr.t, strict=True)
    )
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<gpx version="1.1" creator="facteur-sim" '
        f'xmlns="http://www.topografix.com/GPX/1/1"><trk><trkseg>{pts}</trkseg></trk></gpx>\n'
    )
    return path


def serve_log(log: NmeaLog, pty: PtySerial, *, realtime: bool = True, speed: float = 1.0) -> int:
    """Write the log's epochs into ``pty`` at their recorded times (sped up by ``speed``), or as
    fast as the reader takes them when not ``realtime``; returns the number of epochs written."""
    wall0 = time.monotonic()
    for k in range(log.n_epochs):
        if realtime:
            wait = wall0 + log.epoch_time(k) / speed - time.monotonic()
            if wait > 0:
                time.sleep(wait)
        pty.write(log.epoch(k))
        while pty.backlog and not realtime:
            time.sleep(0.001)
            pty.flush()
    return log.n_epochs
