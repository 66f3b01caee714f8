"""Record encoder: readings -> compact little-endian records -> blocks (the flash/upload envelope).

Byte layout in firmware/FORMAT.md; the CPython decoder is ingest/records/decode.py. Allocation-light:
one payload buffer per writer, records packed in place with struct.pack_into.

    w = BlockWriter(boot_id=3, first_seq=0)
    w.track_second(ticks, lat_e6, lon_e6, speed_cms, rms_mg, norm, peak_mg, hdop10)
    if w.due(ticks): block = w.seal()   # bytes of one block, ready for the flash log
"""

import struct
from binascii import crc32

from micropython import const

_FORMAT_VERSION = const(1)
_FLAG_FIRST_AFTER_BOOT = const(1)
_HEADER_SIZE = const(12)
_TRAILER_SIZE = const(4)

_K_TRACK = const(0x01)
_K_TIME = const(0x02)
_K_POTHOLE = const(0x03)
_K_AIR = const(0x04)
_K_CO2 = const(0x05)
_K_COVERAGE = const(0x06)
_K_HEALTH = const(0x07)
_K_BOOT = const(0x80)  # 0x80..0xFF: length-prefixed kinds (FORMAT.md, "Compatibility")
_BOOT_HEAD = const(10)  # kind, len, ticks, boot_count, reset_cause, version length
_VERSION_MAX = const(32)

_TRACK_HEADER = const(16)
_TRACK_ENTRY = const(5)
_TRACK_MAX = const(10)
_NO_FIX = const(-128)
_U8_NONE = const(255)

# Position deltas are in units of 1e-5 degree; absolute positions in 1e-6 degree.
_DELTA_UNIT = const(10)


def _u8(v, unit):
    """Quantise a non-negative reading to a u8 (rounded, saturating at 254; None -> 255)."""
    if v is None:
        return _U8_NONE
    q = (v + unit // 2) // unit
    if q < 0:
        return 0
    return 254 if q > 254 else q


class BlockWriter:
    """Accumulates records into one block payload; seal() returns the block bytes."""

    def __init__(self, boot_id, first_seq, capacity=1024, block_ms=10000, sink=None):
        self.sink = sink  # called with each block sealed because it was full
        self.boot_id = boot_id & 0xFFFF
        self.seq = first_seq
        self.block_ms = block_ms
        self.buf = bytearray(_HEADER_SIZE + capacity + _TRAILER_SIZE)
        self.mv = memoryview(self.buf)
        self.cap = _HEADER_SIZE + capacity
        self.first = True
        self.tbuf = bytearray(_TRACK_HEADER + _TRACK_MAX * _TRACK_ENTRY)
        self.tmv = memoryview(self.tbuf)
        self.lat = 0
        self.lon = 0
        self.started = None  # ticks of the first record of the open block
        self.records = 0
        self.sealed = 0
        self._reset()

    def _reset(self):
        self.pos = _HEADER_SIZE
        self.tn = -1  # entries in the staged TRACK record, -1 when none
        self.started = None
        self.records = 0

    def _spill(self):
        """Block full: hand it to the sink (the flash log) when there is one. False otherwise."""
        if self.sink is None:
            return False
        self.sink(self.seal())
        return True

    def _room(self, n, ticks):
        """Offset where n bytes can go; -1 when full and there is no sink (caller seals first)."""
        if self.pos + n + _TRACK_HEADER + _TRACK_MAX * _TRACK_ENTRY > self.cap and not self._spill():
            return -1
        if self.started is None:
            self.started = ticks
        self.records += 1
        p = self.pos
        self.pos = p + n
        return p

    def empty(self):
        return self.pos == _HEADER_SIZE and self.tn < 0

    def due(self, now):
        """True when the open block holds readings from block_ms ago or more (seal it now)."""
        s = self.started
        return s is not None and ((now - s) & 0x3FFFFFFF) >= self.block_ms - 500

    # --- records ------------------------------------------------------------------------

    def _flush_track(self):
        """Move the staged TRACK record (if any) into the payload."""
        n = self.tn
        if n < 0:
            return True
        size = _TRACK_HEADER + _TRACK_ENTRY * n
        if self.pos + size > self.cap:
            return False
        self.tbuf[1] = n
        self.buf[self.pos : self.pos + size] = self.tmv[:size]
        self.pos += size
        self.records += 1
        self.tn = -1
        return True

    def track_second(self, ticks, lat_e6, lon_e6, speed_cms, rms_mg, norm, peak_mg, hdop10):
        """One second: position (1e-6 deg, None = no fix), speed cm/s, roughness features.

        Returns False when the block is full (seal it and call again).
        """
        tb = self.tbuf
        n = self.tn
        dlat = _NO_FIX
        dlon = 0
        if n >= _TRACK_MAX:
            n = -1
        elif n >= 0 and lat_e6 is not None:
            dlat = (lat_e6 - self.lat + 5) // _DELTA_UNIT
            dlon = (lon_e6 - self.lon + 5) // _DELTA_UNIT
            if dlat <= _NO_FIX or dlat > 127 or dlon < -128 or dlon > 127:
                n = -1
        if n < 0:
            if not self._flush_track():
                if not self._spill():
                    return False
            # The new record must fit next to what the payload already holds.
            if self.pos + _TRACK_HEADER + _TRACK_MAX * _TRACK_ENTRY > self.cap and not self._spill():
                return False
            la = lat_e6 if lat_e6 is not None else 0
            lo = lon_e6 if lon_e6 is not None else 0
            struct.pack_into("<BBIBBii", tb, 0, _K_TRACK, 0, ticks & 0xFFFFFFFF, _U8_NONE, 0, la, lo)
            self.lat = la
            self.lon = lo
            if self.started is None:
                self.started = ticks
            n = 0
            dlat = 0 if lat_e6 is not None else _NO_FIX
            dlon = 0
        if dlat != _NO_FIX:
            self.lat += dlat * _DELTA_UNIT
            self.lon += dlon * _DELTA_UNIT
            h = _u8(hdop10, 1)
            if h != _U8_NONE and (tb[6] == _U8_NONE or h > tb[6]):
                tb[6] = h
        p = _TRACK_HEADER + _TRACK_ENTRY * n
        tb[p] = dlat & 0xFF
        tb[p + 1] = dlon & 0xFF
        tb[p + 2] = _u8(speed_cms, 25)
        tb[p + 3] = _u8(rms_mg, 5)
        tb[p + 4] = _u8(norm, 1)
        pk = _u8(peak_mg, 50)
        if pk != _U8_NONE and pk > tb[7]:
            tb[7] = pk
        self.tn = n + 1
        return True

    def time_sync(self, ticks, utc_s, utc_ms):
        """The UTC (seconds since 2000-01-01, ms) of the GNSS epoch read at `ticks`."""
        p = self._room(11, ticks)
        if p < 0:
            return False
        struct.pack_into("<BIIH", self.buf, p, _K_TIME, ticks & 0xFFFFFFFF, utc_s, utc_ms)
        return True

    def pothole(self, ticks, lat_e6, lon_e6, speed_cms, peak_mg, xz10, severity):
        p = self._room(17, ticks)
        if p < 0:
            return False
        if lat_e6 is None:
            lat_e6 = lon_e6 = -0x80000000
        struct.pack_into(
            "<BIiiBBBB",
            self.buf,
            p,
            _K_POTHOLE,
            ticks & 0xFFFFFFFF,
            lat_e6,
            lon_e6,
            _u8(speed_cms, 25),
            _u8(peak_mg, 50),
            _u8(xz10, 1),
            severity,
        )
        return True

    def air(self, ticks, frames, pm1, pm25, pm10):
        p = self._room(12, ticks)
        if p < 0:
            return False
        struct.pack_into("<BIBHHH", self.buf, p, _K_AIR, ticks & 0xFFFFFFFF, frames, pm1, pm25, pm10)
        return True

    def co2(self, ticks, ppm, t_centi, rh_half):
        p = self._room(10, ticks)
        if p < 0:
            return False
        struct.pack_into("<BIHhB", self.buf, p, _K_CO2, ticks & 0xFFFFFFFF, ppm, t_centi, rh_half)
        return True

    def coverage(self, ticks, rat, rsrp, rsrq, sinr, plmn):
        """Raw 27.007 indexes (255 = unknown), SINR raw (-32768 = unknown), PLMN MCCMNC (0 = unknown)."""
        p = self._room(14, ticks)
        if p < 0:
            return False
        struct.pack_into(
            "<BIBBBhI", self.buf, p, _K_COVERAGE, ticks & 0xFFFFFFFF, rat, rsrp, rsrq, sinr, plmn
        )
        return True

    def health(self, ticks, boot_count, free_heap, flash_used_kb, dropped, counters):
        n = len(counters)
        p = self._room(18 + 2 * n, ticks)
        if p < 0:
            return False
        b = self.buf
        struct.pack_into(
            "<BIHIHIB", b, p, _K_HEALTH, ticks & 0xFFFFFFFF, boot_count, free_heap, flash_used_kb, dropped, n
        )
        p += 18
        for c in counters:
            struct.pack_into("<H", b, p, c if c < 0xFFFF else 0xFFFF)
            p += 2
        return True

    def boot(self, ticks, boot_count, reset_cause, version):
        """The BOOT record: firmware version (ASCII, at most 32 bytes) and reset cause (255 unknown).
        The caller seals it into a block of its own (a format-1.0 decoder stops at its kind)."""
        v = version.encode() if isinstance(version, str) else version
        n = len(v)
        if n > _VERSION_MAX:
            n = _VERSION_MAX
        p = self._room(_BOOT_HEAD + n, ticks)
        if p < 0:
            return False
        b = self.buf
        struct.pack_into(
            "<BBIHBB",
            b,
            p,
            _K_BOOT,
            _BOOT_HEAD - 2 + n,
            ticks & 0xFFFFFFFF,
            boot_count & 0xFFFF,
            reset_cause,
            n,
        )
        b[p + _BOOT_HEAD : p + _BOOT_HEAD + n] = v[:n]
        return True

    # --- block --------------------------------------------------------------------------

    def seal(self):
        """The open block as bytes (header, payload, CRC); starts the next one. None when empty."""
        self._flush_track()
        if self.pos == _HEADER_SIZE:
            return None
        b = self.buf
        n = self.pos - _HEADER_SIZE
        struct.pack_into(
            "<2sBBIHH",
            b,
            0,
            b"FB",
            _FORMAT_VERSION,
            _FLAG_FIRST_AFTER_BOOT if self.first else 0,
            self.seq & 0xFFFFFFFF,
            self.boot_id,
            n,
        )
        end = self.pos
        struct.pack_into("<I", b, end, crc32(self.mv[:end]))
        out = bytes(self.mv[: end + _TRAILER_SIZE])
        self.seq += 1
        self.first = False
        self.sealed += 1
        self._reset()
        return out
