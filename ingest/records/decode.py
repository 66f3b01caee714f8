"""Block payloads → NumPy columns, one structured array per record kind, plus counted errors.

Byte layout: ``firmware/FORMAT.md`` ("Payload records"). The encoder is ``firmware/records.py``.

Usage::

    readings = decode_blocks(parse_chunk(body).blocks)
    readings.track["lat"], readings.track["utc"], readings.potholes["severity"], readings.errors

A record that cannot be decoded (unknown kind, runs past the payload, impossible values) ends the
decoding of its block: the error is counted in ``errors`` with the block's seq, the record's offset
and the number of bytes skipped; the records before it in the block are kept. A length-prefixed
record (kind >= 0x80) of a kind this decoder does not know is skipped, counted as ``skipped_kind``,
and the records after it are decoded (FORMAT.md, "Compatibility").
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from ingest.records.envelope import BLOCK_HEADER_SIZE, BLOCK_TRAILER_SIZE, Block, Blocks

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


#: Reasons a record ends the decoding of its block, by code (0 = decoded, 1 = skipped and decoding goes on).
_REASONS = (
    "", "skipped_kind", "short_record", "bad_track_count", "bad_health_count", "unknown_kind",
    "bad_boot_length", "bad_firmware_version",
)  # fmt: skip
_OK, _SKIPPED, _SHORT, _BAD_TRACK, _BAD_HEALTH, _UNKNOWN, _BAD_BOOT_LENGTH, _BAD_VERSION = range(8)
_PAD = 32  # zero bytes after the last block, so a head read past it stays inside the buffer
#: Fewer blocks than this still being decoded: finish them record by record in Python. A NumPy
#: step costs tens of µs whatever its width, a record read in Python about one, so a few long blocks
#: (many small records) must not each pay a NumPy step per record.
_SCALAR_BELOW = 16
#: Gathers of more records than this read rows of a sliding-window view (~30 µs to set up, then
#: one index per record); fewer gather byte by byte.
_WINDOW_FROM = 64
#: Byte length of each fixed-size kind's record (0 = not a fixed kind).
_FIXED_SIZE = np.zeros(256, np.int64)
for _kind, (_, _fmt) in _FIXED.items():
    _FIXED_SIZE[_kind] = _fmt.size
_FIXED_SIZE_OF = {kind: fmt.size for kind, (_, fmt) in _FIXED.items()}


@dataclass(slots=True)
class _Walk:
    """Where every record of a decode is: global offsets into the run's bytes, sorted."""

    data: bytes  # the blocks back to back (headers, payloads, CRCs), plus _PAD zero bytes
    buf: Array  # the same bytes as a u8 array
    seq: Array  # per block
    boot: Array
    at: dict[int, Array] = field(default_factory=dict)  # kind -> offsets of its decoded records
    block_of: dict[int, Array] = field(default_factory=dict)  # kind -> block index of each
    health: list[tuple[int, int, int, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)
    boots: list[tuple[int, tuple[int, int, int, float, int, int, str]]] = field(default_factory=list)
    errors: list[tuple[int, DecodeError]] = field(default_factory=list)  # (offset, error)
    records: int = 0


def _walk(blocks: Blocks) -> _Walk:
    """Find every record of every block, all blocks at once: one NumPy step per record *rank*.

    Step k looks at the k-th record of every block still being decoded, checks it like the
    FORMAT.md rules say (the same checks, in the same order, as a record-by-record reader), and
    moves each block on by its record's size. Only HEALTH and BOOT records (rare) are read in
    Python. Every offset is global, into the run's bytes (blocks in order), so sorting by offset
    gives block order, then record order.
    """
    data = blocks.raw + bytes(_PAD)
    first = int(blocks.start[0]) if len(blocks) else 0
    w = _Walk(data=data, buf=np.frombuffer(data, np.uint8), seq=blocks.seq, boot=blocks.boot_id)
    pos = blocks.start - first + BLOCK_HEADER_SIZE
    ends = blocks.end - first - BLOCK_TRAILER_SIZE
    sizes = ends - pos
    found: dict[int, list[tuple[Array, Array]]] = {}
    live = np.nonzero(sizes > 0)[0]
    buf = w.buf
    while live.size:
        if live.size < _SCALAR_BELOW:
            for b in live.tolist():
                _walk_block(w, b, int(pos[b]), int(ends[b]), start=int(ends[b] - sizes[b]), found=found)
            break
        p, e = pos[live], ends[live]
        kind = buf[p].astype(np.int64)
        count = buf[p + 1].astype(np.int64)  # TRACK n, or a length-prefixed kind's len
        size = _FIXED_SIZE[kind]
        code = np.where(size > 0, np.where(p + size > e, _SHORT, _OK), _UNKNOWN)
        track = kind == K_TRACK
        if track.any():
            t_size = TRACK_HEADER.size + TRACK_ENTRY * count
            t_code = np.where(
                p + TRACK_HEADER.size > e,
                _SHORT,
                np.where((count == 0) | (count > 64), _BAD_TRACK, np.where(p + t_size > e, _SHORT, _OK)),
            )
            size = np.where(track, t_size, size)
            code = np.where(track, t_code, code)
        health = kind == K_HEALTH
        if health.any():
            k = buf[p + HEALTH_HEAD.size - 1].astype(np.int64)
            h_size = HEALTH_HEAD.size + 2 * k
            h_code = np.where(
                p + HEALTH_HEAD.size > e,
                _SHORT,
                np.where(k > 32, _BAD_HEALTH, np.where(p + h_size > e, _SHORT, _OK)),
            )
            size = np.where(health, h_size, size)
            code = np.where(health, h_code, code)
        prefixed = kind >= K_LENGTH_PREFIXED
        if prefixed.any():
            l_size = 2 + count
            l_code = np.where((p + 2 > e) | (p + l_size > e), _SHORT, np.where(kind == K_BOOT, _OK, _SKIPPED))
            size = np.where(prefixed, l_size, size)
            code = np.where(prefixed, l_code, code)
        for i in np.nonzero(((kind == K_BOOT) | health) & (code == _OK))[0]:  # read in Python
            code[i] = _read_rare(w, int(live[i]), int(p[i]), int(e[i]), int(kind[i]))
        ok = code == _OK
        for kd in np.flatnonzero(np.bincount(kind[ok & ~health & (kind != K_BOOT)], minlength=256)).tolist():
            mine = ok & (kind == kd)
            found.setdefault(kd, []).append((p[mine], live[mine]))
        w.records += int(ok.sum())
        for i in np.nonzero(~ok)[0]:
            b = int(live[i])
            _error(
                w, b, int(p[i]), int(code[i]), size=int(size[i]), end=int(e[i]), start=int(ends[b] - sizes[b])
            )
        go_on = ok | (code == _SKIPPED)
        pos[live] = np.where(go_on, p + size, e)
        live = live[go_on & (pos[live] < e)]
    for kd, parts in found.items():
        offsets = np.concatenate([a for a, _ in parts])
        order = np.argsort(offsets, kind="stable")
        w.at[kd] = offsets[order]
        w.block_of[kd] = np.concatenate([b for _, b in parts])[order]
    w.errors.sort(key=lambda x: x[0])
    w.health.sort(key=lambda x: x[0])
    w.boots.sort(key=lambda x: x[0])
    return w


def _walk_block(
    w: _Walk, b: int, pos: int, end: int, *, start: int, found: dict[int, list[tuple[Array, Array]]]
) -> None:
    """The rest of block ``b`` (``pos..end``), record by record: the checks of :func:`_walk`, in Python."""
    data = w.data
    at: dict[int, list[int]] = {}
    while pos < end:
        kind = data[pos]
        code, size = _OK, _FIXED_SIZE_OF.get(kind, 0)
        if kind == K_TRACK:
            n = data[pos + 1]
            size = TRACK_HEADER.size + TRACK_ENTRY * n
            if pos + TRACK_HEADER.size > end:
                code = _SHORT
            elif n == 0 or n > 64:
                code = _BAD_TRACK
        elif kind == K_HEALTH:
            k = data[pos + HEALTH_HEAD.size - 1]
            size = HEALTH_HEAD.size + 2 * k
            if pos + HEALTH_HEAD.size > end:
                code = _SHORT
            elif k > 32:
                code = _BAD_HEALTH
        elif kind >= K_LENGTH_PREFIXED:
            size = 2 + data[pos + 1]
            if pos + 2 <= end and pos + size <= end and kind != K_BOOT:
                code = _SKIPPED
        elif not size:
            code = _UNKNOWN
        if code == _OK and pos + size > end:
            code = _SHORT
        if code == _OK and kind in (K_HEALTH, K_BOOT):
            code = _read_rare(w, b, pos, end, kind)
        if code == _OK:
            w.records += 1
            if kind not in (K_HEALTH, K_BOOT):
                at.setdefault(kind, []).append(pos)
        else:
            _error(w, b, pos, code, size=size, end=end, start=start)
            if code != _SKIPPED:
                break
        pos += size
    for kind, offsets in at.items():
        found.setdefault(kind, []).append((np.array(offsets, np.int64), np.full(len(offsets), b, np.int64)))


def _error(w: _Walk, b: int, at: int, code: int, *, size: int, end: int, start: int) -> None:
    """Count the record at ``at`` of block ``b`` (payload ``start..end``): skipped, or ending the block."""
    skipped = size if code == _SKIPPED else end - at
    w.errors.append((at, DecodeError(int(w.seq[b]), at - start, _REASONS[code], skipped)))


def _read_rare(w: _Walk, b: int, at: int, end: int, kind: int) -> int:
    """Read one HEALTH or BOOT record (sizes already checked); its code (_OK, or why not)."""
    raw = w.buf[at:end].tobytes()
    seq, boot = int(w.seq[b]), int(w.boot[b])
    if kind == K_HEALTH:
        head = HEALTH_HEAD.unpack_from(raw, 0)
        counters = struct.unpack_from(f"<{head[-1]}H", raw, HEALTH_HEAD.size)
        w.health.append((at, seq, boot, head[1:-1], counters))
        return _OK
    if 2 + raw[1] < BOOT_HEAD.size:
        return _SHORT
    _, size, ticks, boot_count, cause, n = BOOT_HEAD.unpack_from(raw, 0)
    version = raw[BOOT_HEAD.size : BOOT_HEAD.size + n]
    if n > VERSION_MAX or BOOT_HEAD.size + n != 2 + size:
        return _BAD_BOOT_LENGTH
    if not all(0x20 <= c <= 0x7E for c in version):
        return _BAD_VERSION
    w.boots.append((at, (seq, boot, ticks, np.nan, boot_count, cause, version.decode("ascii"))))
    return _OK


@functools.cache
def _codes(fmt: struct.Struct) -> np.dtype[Any]:
    """The structured dtype of a little-endian ``struct`` format (one field per item)."""
    codes = {"B": "u1", "b": "i1", "H": "<u2", "h": "<i2", "I": "<u4", "i": "<i4"}
    items = fmt.format.lstrip("<")
    return np.dtype({"names": [f"f{i}" for i in range(len(items))], "formats": [codes[c] for c in items]})


def _gather(w: _Walk, at: Array, fmt: struct.Struct) -> Array:
    """The records of layout ``fmt`` starting at offsets ``at``, as one structured array."""
    if len(at) > _WINDOW_FROM:  # rows of a sliding-window view: one index per record, not per byte
        rows = sliding_window_view(w.buf, fmt.size)[at]
    else:
        rows = w.buf[at[:, None] + np.arange(fmt.size)]
    return rows.view(_codes(fmt))[:, 0]


def _fixed_rows(w: _Walk, kind: int) -> tuple[Array, Array, Array]:
    """seq, boot_id and the raw fields as one int64 matrix (one row per record of ``kind``)."""
    fmt = _FIXED[kind][1]
    at = w.at.get(kind, np.zeros(0, np.int64))
    block = w.block_of.get(kind, np.zeros(0, np.int64))
    raw = _gather(w, at, fmt)
    assert raw.dtype.names is not None
    fields = np.stack([raw[n].astype(np.int64) for n in raw.dtype.names], axis=1)
    return w.seq[block], w.boot[block], fields


def _base(
    dtype: np.dtype[Any], seq: Array, boot: Array, ticks: Array, *, every_field_set: bool = False
) -> Array:
    """A table of ``dtype`` with its base columns filled (utc NaN). ``every_field_set``: the caller
    writes every other field, so the table is not zero-filled first."""
    out = (np.empty if every_field_set else np.zeros)(len(seq), dtype)
    out["seq"] = seq
    out["boot_id"] = boot
    out["ticks"] = ticks
    out["utc"] = np.nan
    return out


def _position(lat: Array, lon: Array) -> tuple[Array, Array, Array]:
    fix = lat != -0x80000000
    return fix, np.where(fix, lat / 1e6, np.nan), np.where(fix, lon / 1e6, np.nan)


def _track(w: _Walk) -> Array:
    if K_TRACK not in w.at:
        return np.zeros(0, TRACK_DTYPE)
    at, block = w.at[K_TRACK], w.block_of[K_TRACK]
    head = _gather(w, at, TRACK_HEADER)  # kind, n, t0, hdop, peak, lat0, lon0 per record
    counts = head["f1"].astype(np.int64)
    starts = np.cumsum(counts) - counts
    if (counts == counts[0]).all():  # the usual case (10 one-second entries): a record's entries at once
        entries = sliding_window_view(w.buf, TRACK_ENTRY * int(counts[0]))[at + TRACK_HEADER.size]
        entries = entries.reshape(-1, TRACK_ENTRY)
    else:
        first = np.repeat(at + TRACK_HEADER.size - TRACK_ENTRY * starts, counts)
        entries = w.buf[(first + TRACK_ENTRY * np.arange(len(first)))[:, None] + np.arange(TRACK_ENTRY)]
    index_in_rec = np.arange(len(entries)) - np.repeat(starts, counts)
    dlat = entries[:, 0].view(np.int8).astype(np.int64)
    dlon = entries[:, 1].view(np.int8).astype(np.int64)
    fix = dlat != NO_FIX
    dlat = np.where(fix, dlat, 0) * 10
    dlon = np.where(fix, dlon, 0) * 10
    # Cumulative sum of deltas restarted at every record, plus the record's base position: the
    # per-record terms are computed once per record and repeated over its entries.
    cum_lat = np.cumsum(dlat)
    cum_lon = np.cumsum(dlon)
    before = starts - 1
    off_lat = np.where(before >= 0, cum_lat[np.maximum(before, 0)], 0)
    off_lon = np.where(before >= 0, cum_lon[np.maximum(before, 0)], 0)
    lat = np.repeat(head["f5"].astype(np.int64) - off_lat, counts) + cum_lat
    lon = np.repeat(head["f6"].astype(np.int64) - off_lon, counts) + cum_lon
    ticks = (np.repeat(head["f2"].astype(np.int64), counts) + 1000 * index_in_rec) % (1 << 32)
    out = _base(
        TRACK_DTYPE,
        np.repeat(w.seq[block], counts),
        np.repeat(w.boot[block], counts),
        ticks,
        every_field_set=True,
    )
    out["fix"] = fix
    out["lat"] = np.where(fix, lat / 1e6, np.nan)
    out["lon"] = np.where(fix, lon / 1e6, np.nan)
    out["speed"] = np.where(fix, _u8(entries[:, 2], 0.25), np.nan)
    out["rms"] = _u8(entries[:, 3], 0.005)
    out["norm"] = _u8(entries[:, 4], 1.0)
    hdop = head["f3"].astype(np.int64)
    out["hdop"] = np.repeat(np.where(hdop == U8_NONE, np.nan, hdop / 10), counts)
    out["peak"] = np.repeat(head["f4"].astype(np.int64) * 0.05, counts)
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
    boots = np.unique(sync["boot_id"])
    for boot in boots.tolist():
        s = sync if len(boots) == 1 else sync[sync["boot_id"] == boot]
        if len(s) > 1:
            s = s[np.argsort(s["ticks"], kind="stable")]
        mine = table["boot_id"] == boot
        # Usually every row is of this one boot: read and write the columns in place.
        rows: Array | slice = slice(None) if len(boots) == 1 and mine.all() else np.nonzero(mine)[0]
        t = table["ticks"][rows].astype(np.int64)
        if not len(t):
            continue
        if len(s) == 1:
            table["utc"][rows] = float(s["utc"][0]) + (t - int(s["ticks"][0])) / 1000.0
            continue
        i = np.clip(np.searchsorted(s["ticks"], t, side="right") - 1, 0, len(s) - 1)
        delta_ms = t - s["ticks"][i].astype(np.int64)
        table["utc"][rows] = s["utc"][i] + delta_ms / 1000.0


def decode_blocks(blocks: Blocks | Iterable[Block]) -> Readings:
    """Decode the payloads of ``blocks`` (already CRC-checked by the envelope) into columns."""
    w = _walk(blocks if isinstance(blocks, Blocks) else Blocks.of(blocks))
    r = Readings(errors=[e for _, e in w.errors], records=w.records)
    r.track = _track(w)

    seq, boot, f = _fixed_rows(w, K_TIME)
    r.time = _base(TIME_DTYPE, seq, boot, f[:, 1])
    r.time["utc"] = f[:, 2] + EPOCH_2000 + f[:, 3] / 1000.0
    r.time["utc_ms"] = f[:, 3]
    glitch = _time_outliers(r.time)
    if glitch.any():  # counted, kept out of dating (the raw block keeps the record)
        r.errors += [DecodeError(int(seq), 0, "time_outlier", 0) for seq in r.time["seq"][glitch]]
        r.time = r.time[~glitch]

    seq, boot, f = _fixed_rows(w, K_POTHOLE)
    r.potholes = _base(POTHOLE_DTYPE, seq, boot, f[:, 1])
    r.potholes["fix"], r.potholes["lat"], r.potholes["lon"] = _position(f[:, 2], f[:, 3])
    r.potholes["speed"] = _u8(f[:, 4], 0.25)
    r.potholes["peak"] = _u8(f[:, 5], 0.05)
    r.potholes["xz_ratio"] = _u8(f[:, 6], 0.1)
    r.potholes["severity"] = f[:, 7]

    seq, boot, f = _fixed_rows(w, K_AIR)
    r.air = _base(AIR_DTYPE, seq, boot, f[:, 1])
    for i, name in enumerate(("frames", "pm1", "pm25", "pm10"), start=2):
        r.air[name] = f[:, i]

    seq, boot, f = _fixed_rows(w, K_CO2)
    r.co2 = _base(CO2_DTYPE, seq, boot, f[:, 1])
    r.co2["co2"] = f[:, 2]
    r.co2["temperature"] = f[:, 3] / 100.0
    r.co2["humidity"] = f[:, 4] / 2.0

    seq, boot, f = _fixed_rows(w, K_COVERAGE)
    r.coverage = _base(COVERAGE_DTYPE, seq, boot, f[:, 1])
    for i, name in enumerate(("rat", "rsrp_raw", "rsrq_raw", "sinr_raw", "plmn"), start=2):
        r.coverage[name] = f[:, i]
    # 27.007 +CESQ: rsrp 0..97 -> -140 + idx dBm, rsrq 0..34 -> -19.5 + idx/2 dB; 255 unknown.
    rsrp, rsrq, sinr = f[:, 3], f[:, 4], f[:, 5]
    r.coverage["rsrp"] = np.where(rsrp <= 97, -141.0 + rsrp, np.nan)
    r.coverage["rsrq"] = np.where(rsrq <= 34, -20.0 + rsrq / 2.0, np.nan)
    # Quectel AT+QCSQ (LTE): SINR dB = raw / 5 - 20.
    r.coverage["sinr"] = np.where(sinr != -32768, sinr / 5.0 - 20.0, np.nan)

    if w.health:
        r.health = np.zeros(len(w.health), HEALTH_DTYPE)
        for i, (_, s, bt, head, counters) in enumerate(w.health):
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

    if w.boots:
        r.boots = np.array([row for _, row in w.boots], BOOT_DTYPE)

    for table in (r.track, r.potholes, r.air, r.co2, r.coverage, r.health, r.boots):
        _assign_utc(table, r.time)
    return r
