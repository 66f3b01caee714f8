"""The record-by-record decoder as it was before the vectorised walk (commit f10361b), frozen.

Test oracle only: ``test_fast_paths.py`` checks that :func:`ingest.records.decode.decode_blocks`
gives exactly what this reader gives (same tables, dtypes, errors and counts) on random, damaged
payloads. Do not import it from product code; do not "improve" it — it is the reference.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from ingest.records.envelope import Block

K_TRACK = 0x01
K_TIME = 0x02
K_POTHOLE = 0x03
K_AIR = 0x04
K_CO2 = 0x05
K_COVERAGE = 0x06
K_HEALTH = 0x07
K_BOOT = 0x80
#: Kinds from here up are length-prefixed (kind u8, len u8, len bytes): an unknown one is skipped.
K_LENGTH_PREFIXED = 0x80

TRACK_HEADER = struct.Struct("<BBIBBii")  # kind, n, t0 ticks, hdop*10, peak (50 mg), lat0, lon0 (1e-6 deg)
TRACK_ENTRY = 5  # dlat i8, dlon i8 (1e-5 deg; dlat -128 = no fix), speed u8, rms u8, norm u8
NO_FIX = -128
U8_NONE = 255
EPOCH_2000 = 946_684_800  # 2000-01-01T00:00:00Z in Unix seconds

_FIXED: dict[int, tuple[str, struct.Struct]] = {
    K_TIME: ("time", struct.Struct("<BIIH")),
    K_POTHOLE: ("potholes", struct.Struct("<BIiiBBBB")),
    K_AIR: ("air", struct.Struct("<BIBHHH")),
    K_CO2: ("co2", struct.Struct("<BIHhB")),
    K_COVERAGE: ("coverage", struct.Struct("<BIBBBhI")),
}
HEALTH_HEAD = struct.Struct("<BIHIHIB")  # kind, ticks, boot_count, free heap, flash kB, dropped, n counters
BOOT_HEAD = struct.Struct("<BBIHBB")  # kind, len, ticks, boot_count, reset cause, version length
VERSION_MAX = 32

Array = npt.NDArray[Any]

_BASE = [("seq", "u4"), ("boot_id", "u2"), ("ticks", "u4"), ("utc", "f8")]
TRACK_DTYPE = np.dtype(
    [*_BASE, ("fix", "?"), ("lat", "f8"), ("lon", "f8"), ("speed", "f4"), ("hdop", "f4"),
     ("rms", "f4"), ("norm", "f4"), ("peak", "f4")]
)  # fmt: skip
TIME_DTYPE = np.dtype([*_BASE, ("utc_ms", "u2")])
POTHOLE_DTYPE = np.dtype(
    [*_BASE, ("fix", "?"), ("lat", "f8"), ("lon", "f8"), ("speed", "f4"), ("peak", "f4"),
     ("xz_ratio", "f4"), ("severity", "u1")]
)  # fmt: skip
AIR_DTYPE = np.dtype([*_BASE, ("frames", "u1"), ("pm1", "u2"), ("pm25", "u2"), ("pm10", "u2")])
CO2_DTYPE = np.dtype([*_BASE, ("co2", "u2"), ("temperature", "f4"), ("humidity", "f4")])
COVERAGE_DTYPE = np.dtype(
    [*_BASE, ("rat", "u1"), ("rsrp_raw", "u1"), ("rsrq_raw", "u1"), ("sinr_raw", "i2"), ("plmn", "u4"),
     ("rsrp", "f4"), ("rsrq", "f4"), ("sinr", "f4")]
)  # fmt: skip
HEALTH_DTYPE = np.dtype(
    [*_BASE, ("boot_count", "u2"), ("free_heap", "u4"), ("flash_used_kb", "u2"), ("dropped_blocks", "u4"),
     ("counters", "u2", (32,)), ("n_counters", "u1")]
)  # fmt: skip

BOOT_DTYPE = np.dtype(
    [*_BASE, ("boot_count", "u2"), ("reset_cause", "u1"), ("firmware_version", f"U{VERSION_MAX}")]
)

# Order of the driver counters in a HEALTH record (firmware/app.py HEALTH_COUNTERS).
HEALTH_COUNTERS = (
    "nmea_clean", "nmea_crc_fail", "nmea_garbage", "nmea_unsupported",
    "pms_frames", "pms_bad_checksum", "pms_resync",
    "scd_reads", "scd_crc_fail", "scd_errors",
    "acc_samples", "acc_overruns", "acc_errors",
    "modem_replies", "modem_errors", "modem_timeouts",
    "potholes", "log_syncs", "upload_chunks", "upload_failures",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class DecodeError:
    seq: int
    offset: int
    reason: str
    skipped_bytes: int


@dataclass(slots=True)
class Readings:
    """Decoded columns. ``utc`` is Unix seconds (float, NaN until a TIME record of the same boot)."""

    track: Array = field(default_factory=lambda: np.zeros(0, TRACK_DTYPE))
    time: Array = field(default_factory=lambda: np.zeros(0, TIME_DTYPE))
    potholes: Array = field(default_factory=lambda: np.zeros(0, POTHOLE_DTYPE))
    air: Array = field(default_factory=lambda: np.zeros(0, AIR_DTYPE))
    co2: Array = field(default_factory=lambda: np.zeros(0, CO2_DTYPE))
    coverage: Array = field(default_factory=lambda: np.zeros(0, COVERAGE_DTYPE))
    health: Array = field(default_factory=lambda: np.zeros(0, HEALTH_DTYPE))
    boots: Array = field(default_factory=lambda: np.zeros(0, BOOT_DTYPE))
    errors: list[DecodeError] = field(default_factory=list)
    records: int = 0


def _u8(raw: Array, unit: float) -> Array:
    out = raw.astype(np.float32) * np.float32(unit)
    out[raw == U8_NONE] = np.nan
    return out


class _Collector:
    def __init__(self) -> None:
        self.track_heads: list[tuple[int, int, int, int, int, int, int, int]] = []  # seq, boot, n, t0, ...
        self.track_entries: list[bytes] = []
        self.fixed: dict[int, list[tuple[int, int, bytes]]] = {k: [] for k in _FIXED}
        self.health: list[tuple[int, int, tuple[int, ...], tuple[int, ...]]] = []
        self.boots: list[tuple[int, int, int, float, int, int, str]] = []
        self.errors: list[DecodeError] = []
        self.records = 0

    def block(self, b: Block) -> None:
        p = b.payload
        pos = 0
        while pos < len(p):
            kind = p[pos]
            try:
                pos = self._record(b, p, pos, kind)
            except _SkippedKindError as skip:  # a length-prefixed kind this decoder does not know: counted
                self.errors.append(DecodeError(b.seq, pos, "skipped_kind", skip.end - pos))
                pos = skip.end
                continue
            except (struct.error, ValueError) as exc:
                reason = str(exc) if isinstance(exc, ValueError) else "short_record"
                self.errors.append(DecodeError(b.seq, pos, reason, len(p) - pos))
                return
            self.records += 1

    def _record(self, b: Block, p: bytes, pos: int, kind: int) -> int:
        if kind == K_TRACK:
            _, n, t0, hdop, peak, lat0, lon0 = TRACK_HEADER.unpack_from(p, pos)
            end = pos + TRACK_HEADER.size + n * TRACK_ENTRY
            if n == 0 or n > 64:
                raise ValueError("bad_track_count")
            if end > len(p):
                raise ValueError("short_record")
            self.track_heads.append((b.seq, b.boot_id, n, t0, hdop, peak, lat0, lon0))
            self.track_entries.append(p[pos + TRACK_HEADER.size : end])
            return int(end)
        if kind == K_HEALTH:
            head = HEALTH_HEAD.unpack_from(p, pos)
            n = head[-1]
            end = pos + HEALTH_HEAD.size + 2 * n
            if n > 32:
                raise ValueError("bad_health_count")
            if end > len(p):
                raise ValueError("short_record")
            counters = struct.unpack_from(f"<{n}H", p, pos + HEALTH_HEAD.size)
            self.health.append((b.seq, b.boot_id, head[1:-1], counters))
            return int(end)
        if kind in _FIXED:
            size = _FIXED[kind][1].size
            if pos + size > len(p):
                raise ValueError("short_record")
            self.fixed[kind].append((b.seq, b.boot_id, p[pos : pos + size]))
            return pos + size
        if kind >= K_LENGTH_PREFIXED:
            return self._length_prefixed(b, p, pos, kind)
        raise ValueError("unknown_kind")

    def _length_prefixed(self, b: Block, p: bytes, pos: int, kind: int) -> int:
        if pos + 2 > len(p):
            raise ValueError("short_record")
        end = pos + 2 + p[pos + 1]
        if end > len(p):
            raise ValueError("short_record")
        if kind != K_BOOT:
            raise _SkippedKindError(end)
        if end - pos < BOOT_HEAD.size:
            raise ValueError("short_record")
        _, _, ticks, boot_count, cause, n = BOOT_HEAD.unpack_from(p, pos)
        start = pos + BOOT_HEAD.size
        raw = p[start : start + n]
        if n > VERSION_MAX or start + n != end:
            raise ValueError("bad_boot_length")
        if not all(0x20 <= c <= 0x7E for c in raw):
            raise ValueError("bad_firmware_version")
        self.boots.append((b.seq, b.boot_id, ticks, np.nan, boot_count, cause, raw.decode("ascii")))
        return end


class _SkippedKindError(Exception):
    """A well-formed record of a length-prefixed kind this decoder does not know; decoding goes on."""

    def __init__(self, end: int) -> None:
        super().__init__(end)
        self.end = end


def _fixed_rows(rows: list[tuple[int, int, bytes]], fmt: struct.Struct) -> tuple[Array, Array, Array]:
    """seq, boot_id and the raw fields as one int64 matrix (one row per record)."""
    if not rows:
        return (
            np.zeros(0, np.uint32),
            np.zeros(0, np.uint16),
            np.zeros((0, len(fmt.unpack(bytes(fmt.size)))), np.int64),
        )
    seq = np.fromiter((r[0] for r in rows), np.uint32, len(rows))
    boot = np.fromiter((r[1] for r in rows), np.uint16, len(rows))
    # One structured view over the concatenated records: no per-record unpacking.
    names = [f"f{i}" for i in range(len(fmt.unpack(bytes(fmt.size))))]
    codes = {"B": "u1", "b": "i1", "H": "<u2", "h": "<i2", "I": "<u4", "i": "<i4"}
    dt = np.dtype({"names": names, "formats": [codes[c] for c in fmt.format.lstrip("<")]})
    raw = np.frombuffer(b"".join(r[2] for r in rows), dt)
    fields = np.stack([raw[n].astype(np.int64) for n in names], axis=1)
    return seq, boot, fields


def _base(dtype: np.dtype[Any], seq: Array, boot: Array, ticks: Array) -> Array:
    out = np.zeros(len(seq), dtype)
    out["seq"] = seq
    out["boot_id"] = boot
    out["ticks"] = ticks
    out["utc"] = np.nan
    return out


def _position(lat: Array, lon: Array) -> tuple[Array, Array, Array]:
    fix = lat != -0x80000000
    return fix, np.where(fix, lat / 1e6, np.nan), np.where(fix, lon / 1e6, np.nan)


def _track(c: _Collector) -> Array:
    if not c.track_heads:
        return np.zeros(0, TRACK_DTYPE)
    heads = np.array(c.track_heads, dtype=np.int64)
    counts = heads[:, 2]
    entries = np.frombuffer(b"".join(c.track_entries), np.uint8).reshape(-1, TRACK_ENTRY)
    rec = np.repeat(np.arange(len(heads)), counts)
    starts = np.cumsum(counts) - counts
    index_in_rec = np.arange(len(entries)) - starts[rec]
    dlat = entries[:, 0].view(np.int8).astype(np.int64)
    dlon = entries[:, 1].view(np.int8).astype(np.int64)
    fix = dlat != NO_FIX
    dlat = np.where(fix, dlat, 0) * 10
    dlon = np.where(fix, dlon, 0) * 10
    # Cumulative sum of deltas restarted at every record, plus the record's base position.
    cum_lat = np.cumsum(dlat)
    cum_lon = np.cumsum(dlon)
    before = starts - 1
    off_lat = np.where(before >= 0, cum_lat[np.maximum(before, 0)], 0)
    off_lon = np.where(before >= 0, cum_lon[np.maximum(before, 0)], 0)
    lat = heads[rec, 6] + cum_lat - off_lat[rec]
    lon = heads[rec, 7] + cum_lon - off_lon[rec]
    ticks = (heads[rec, 3] + 1000 * index_in_rec) % (1 << 32)
    out = _base(TRACK_DTYPE, heads[rec, 0], heads[rec, 1], ticks)
    out["fix"] = fix
    out["lat"] = np.where(fix, lat / 1e6, np.nan)
    out["lon"] = np.where(fix, lon / 1e6, np.nan)
    out["speed"] = np.where(fix, _u8(entries[:, 2], 0.25), np.nan)
    out["rms"] = _u8(entries[:, 3], 0.005)
    out["norm"] = _u8(entries[:, 4], 1.0)
    hdop = heads[rec, 4]
    out["hdop"] = np.where(hdop == U8_NONE, np.nan, hdop / 10)
    out["peak"] = heads[rec, 5] * 0.05
    return out


#: A TIME record whose UTC-minus-ticks offset is this far (s) from the median offset of its boot's
#: records is a receiver time glitch, not the clock (FORMAT.md, 0x02 TIME).
TIME_OUTLIER_S = 5.0


def _time_outliers(sync: Array) -> Array:
    """Mask of TIME records that disagree with the other TIME records of their boot.

    Within a boot the board's ticks and UTC advance together (a leap second or crystal drift moves
    the offset by a second or two over a round), so a record whose offset is more than
    ``TIME_OUTLIER_S`` from its boot's median is a receiver reporting a wrong time (a glitch, a time
    jump) and must not date readings. Needs three records of the boot in the same decode to tell.
    """
    bad = np.zeros(len(sync), bool)
    if len(sync) < 3:
        return bad
    offset = sync["utc"] - sync["ticks"] / 1000.0
    for boot in np.unique(sync["boot_id"]):
        mine = sync["boot_id"] == boot
        if mine.sum() >= 3:
            bad[mine] = np.abs(offset[mine] - np.median(offset[mine])) > TIME_OUTLIER_S
    return bad


def _assign_utc(table: Array, sync: Array) -> None:
    """utc = sync utc + (ticks - sync ticks) / 1000, with the nearest TIME record of the same boot."""
    if not len(table) or not len(sync):
        return
    for boot in np.unique(sync["boot_id"]):
        s = sync[sync["boot_id"] == boot]
        s = s[np.argsort(s["ticks"], kind="stable")]
        rows = np.nonzero(table["boot_id"] == boot)[0]
        if not len(rows):
            continue
        t = table["ticks"][rows].astype(np.int64)
        i = np.clip(np.searchsorted(s["ticks"], t, side="right") - 1, 0, len(s) - 1)
        delta_ms = t - s["ticks"][i].astype(np.int64)
        table["utc"][rows] = s["utc"][i] + delta_ms / 1000.0


def decode_blocks(blocks: Iterable[Block]) -> Readings:
    """Decode the payloads of ``blocks`` (already CRC-checked by the envelope) into columns."""
    c = _Collector()
    for b in blocks:
        c.block(b)
    r = Readings(errors=c.errors, records=c.records)
    r.track = _track(c)

    seq, boot, f = _fixed_rows(c.fixed[K_TIME], _FIXED[K_TIME][1])
    r.time = _base(TIME_DTYPE, seq, boot, f[:, 1])
    r.time["utc"] = f[:, 2] + EPOCH_2000 + f[:, 3] / 1000.0
    r.time["utc_ms"] = f[:, 3]
    glitch = _time_outliers(r.time)
    if glitch.any():  # counted, kept out of dating (the raw block keeps the record)
        r.errors += [DecodeError(int(seq), 0, "time_outlier", 0) for seq in r.time["seq"][glitch]]
        r.time = r.time[~glitch]

    seq, boot, f = _fixed_rows(c.fixed[K_POTHOLE], _FIXED[K_POTHOLE][1])
    r.potholes = _base(POTHOLE_DTYPE, seq, boot, f[:, 1])
    r.potholes["fix"], r.potholes["lat"], r.potholes["lon"] = _position(f[:, 2], f[:, 3])
    r.potholes["speed"] = _u8(f[:, 4], 0.25)
    r.potholes["peak"] = _u8(f[:, 5], 0.05)
    r.potholes["xz_ratio"] = _u8(f[:, 6], 0.1)
    r.potholes["severity"] = f[:, 7]

    seq, boot, f = _fixed_rows(c.fixed[K_AIR], _FIXED[K_AIR][1])
    r.air = _base(AIR_DTYPE, seq, boot, f[:, 1])
    for i, name in enumerate(("frames", "pm1", "pm25", "pm10"), start=2):
        r.air[name] = f[:, i]

    seq, boot, f = _fixed_rows(c.fixed[K_CO2], _FIXED[K_CO2][1])
    r.co2 = _base(CO2_DTYPE, seq, boot, f[:, 1])
    r.co2["co2"] = f[:, 2]
    r.co2["temperature"] = f[:, 3] / 100.0
    r.co2["humidity"] = f[:, 4] / 2.0

    seq, boot, f = _fixed_rows(c.fixed[K_COVERAGE], _FIXED[K_COVERAGE][1])
    r.coverage = _base(COVERAGE_DTYPE, seq, boot, f[:, 1])
    for i, name in enumerate(("rat", "rsrp_raw", "rsrq_raw", "sinr_raw", "plmn"), start=2):
        r.coverage[name] = f[:, i]
    # 27.007 +CESQ: rsrp 0..97 -> -140 + idx dBm, rsrq 0..34 -> -19.5 + idx/2 dB; 255 unknown.
    rsrp, rsrq, sinr = f[:, 3], f[:, 4], f[:, 5]
    r.coverage["rsrp"] = np.where(rsrp <= 97, -141.0 + rsrp, np.nan)
    r.coverage["rsrq"] = np.where(rsrq <= 34, -20.0 + rsrq / 2.0, np.nan)
    # Quectel AT+QCSQ (LTE): SINR dB = raw / 5 - 20.
    r.coverage["sinr"] = np.where(sinr != -32768, sinr / 5.0 - 20.0, np.nan)

    if c.health:
        r.health = np.zeros(len(c.health), HEALTH_DTYPE)
        for i, (s, bt, head, counters) in enumerate(c.health):
            r.health[i]["seq"], r.health[i]["boot_id"] = s, bt
            r.health[i]["ticks"], r.health[i]["boot_count"], r.health[i]["free_heap"] = (
                head[0],
                head[1],
                head[2],
            )
            r.health[i]["flash_used_kb"], r.health[i]["dropped_blocks"] = head[3], head[4]
            r.health[i]["counters"][: len(counters)] = counters
            r.health[i]["n_counters"] = len(counters)
        r.health["utc"] = np.nan

    if c.boots:
        r.boots = np.array(c.boots, BOOT_DTYPE)

    for table in (r.track, r.potholes, r.air, r.co2, r.coverage, r.health, r.boots):
        _assign_utc(table, r.time)
    return r
