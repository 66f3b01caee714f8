"""Append-only, power-loss-safe log of blocks on the flash filesystem (littlefs on the board).

Blocks (see FORMAT.md) are appended to segment files `<dir>/NNNNNNNN.seg` and flushed one by one:
on littlefs `flush()` commits the file atomically, so a power cut keeps every flushed block and loses
at most the one being written. Recovery (logscan.py, loaded for the boot only) scans every segment,
validates headers and CRC-32, and stops a segment at its first torn or corrupt block (that tail is
never surfaced; new blocks go to a new segment). A small state file, replaced atomically by rename, keeps the boot count, the highest
acknowledged seq (so seqs are never reused after reclaim) and the dropped-block counter.

When the log outgrows `max_bytes`, the oldest segment is deleted (drop-oldest) and counted.

    log = FlashLog("/flash/log", max_bytes=1800000)
    log.recover()                # -> next seq to use
    log.append(block_bytes)      # durable when it returns
    n, first, last = log.span(seq, 4096)   # contiguous blocks from seq, for one upload chunk
    for piece in log.pieces(first, n): ...  # their bytes, streamed through a 256-byte buffer
    log.ack(seq)                 # blocks <= seq are acknowledged; whole segments are reclaimed
"""

import os
import struct
from binascii import crc32

from micropython import const

_HDR = const(12)
_BUF = const(256)
_STATE = "state"
_NONE = const(0xFFFFFFFF)


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


class FlashLog:
    def __init__(self, root, max_bytes=1800000, seg_max=16384):
        self.root = root
        self.max_bytes = max_bytes
        self.seg_max = seg_max
        self.buf = bytearray(_BUF)
        self.mv = memoryview(self.buf)
        self.segs = []  # [number, first_seq, last_seq, valid_bytes] oldest first
        self.f = None  # open segment for appending
        self.boot_count = 0
        self.acked = _NONE
        self.dropped = 0
        self.syncs = 0
        self.torn = 0
        self.next_seq = 0
        try:
            os.mkdir(root)
        except OSError:
            pass

    # --- state file -----------------------------------------------------------------------

    def _save_state(self):
        b = bytearray(20)
        struct.pack_into("<IIII", b, 0, self.boot_count, self.acked, self.dropped, self.next_seq)
        struct.pack_into("<I", b, 16, crc32(memoryview(b)[:16]))
        tmp = self.root + "/" + _STATE + ".tmp"
        with open(tmp, "wb") as f:
            f.write(b)
        os.rename(tmp, self.root + "/" + _STATE)

    # --- scanning -------------------------------------------------------------------------

    def _path(self, n):
        return "%s/%08d.seg" % (self.root, n)

    def recover(self):
        """Scan the log after boot; returns the next seq to use. Increments the boot count.

        The scanning code lives in logscan.py, loaded for the boot and released after it.
        """
        import sys

        from logscan import recover

        try:
            return recover(self)
        finally:
            sys.modules.pop("logscan", None)

    # --- writing --------------------------------------------------------------------------

    def used_bytes(self):
        t = 0
        for s in self.segs:
            t += s[3]
        return t

    def _open_new(self):
        n = self.segs[-1][0] + 1 if self.segs else 0
        f = open(self._path(n), "wb")
        self.f = f
        self.segs.append([n, -1, -1, 0, False])
        return f

    def append(self, block):
        """Append one block and make it durable. Drops oldest segments when over budget."""
        seq = struct.unpack_from("<I", block, 4)[0]
        while self.segs and self.used_bytes() + len(block) > self.max_bytes and len(self.segs) > 1:
            self._drop_oldest()
        last = self.segs[-1] if self.segs else None
        f = self.f
        if f is None or last is None or last[4] or last[3] + len(block) > self.seg_max:
            self.close()
            f = self._open_new()
            last = self.segs[-1]
        try:
            f.write(block)
            f.flush()
        except OSError:
            # filesystem full (or failing): free the oldest segment and retry once on a new file
            self.close()
            if len(self.segs) > 1:
                self._drop_oldest()
            f = self._open_new()
            last = self.segs[-1]
            f.write(block)
            f.flush()
        if last[1] < 0:
            last[1] = seq
        last[2] = seq
        last[3] += len(block)
        self.next_seq = seq + 1
        self.syncs += 1
        return True

    def _drop_oldest(self):
        s = self.segs.pop(0)
        if s[1] >= 0:
            self.dropped += s[2] - s[1] + 1
        try:
            os.remove(self._path(s[0]))
        except OSError:
            pass
        self._save_state()

    def close(self):
        if self.f is not None:
            try:
                self.f.close()
            except OSError:
                pass
            self.f = None

    # --- reading and reclaiming ---------------------------------------------------------------

    def first_unacked(self):
        """The lowest stored seq above the acknowledged one, or None when everything is acked."""
        for s in self.segs:
            if s[1] < 0:
                continue
            lo = s[1]
            if self.acked != _NONE and self.acked >= lo:
                lo = self.acked + 1
            if lo <= s[2]:
                return lo
        return None

    def read_from(self, seq, out):
        """Copy the contiguous valid blocks from `seq` into `out` (tests, tools): (nbytes, first, last)."""
        n, first, last = self.span(seq, len(out))
        p = 0
        for piece in self.pieces(first, n):
            out[p : p + len(piece)] = piece
            p += len(piece)
        return n, first, last

    def span(self, seq, limit):
        """(nbytes, first, last) of the contiguous valid blocks from `seq`, at most `limit` bytes.

        Nothing is copied: the upload streams them with `pieces` (no chunk-sized buffer on the heap).
        """
        n = 0
        first = last = -1
        buf = self.buf
        for s in self.segs:
            if s[1] < 0 or s[2] < seq:
                continue
            if first >= 0 and s[1] != last + 1:
                break
            pos = 0
            with open(self._path(s[0]), "rb") as f:
                while pos < s[3]:
                    if f.readinto(self.mv[:_HDR]) != _HDR:
                        break
                    size = _HDR + (buf[10] | buf[11] << 8) + 4
                    b_seq = struct.unpack_from("<I", buf, 4)[0]
                    f.seek(size - _HDR, 1)
                    pos += size
                    if b_seq < seq:
                        continue
                    if n + size > limit:
                        return n, first, last
                    if first < 0:
                        first = b_seq
                    last = b_seq
                    n += size
        return n, first, last

    def pieces(self, seq, nbytes):
        """Yield the bytes of the blocks from `seq` (nbytes in all, as `span` measured them) in
        buffer-sized memoryviews, each valid until the next one is asked for."""
        left = nbytes
        buf = self.buf
        mv = self.mv
        for s in self.segs:
            if left <= 0:
                return
            if s[1] < 0 or s[2] < seq:
                continue
            pos = 0
            with open(self._path(s[0]), "rb") as f:
                while pos < s[3] and left > 0:
                    if f.readinto(mv[:_HDR]) != _HDR:
                        return
                    size = _HDR + (buf[10] | buf[11] << 8) + 4
                    pos += size
                    if struct.unpack_from("<I", buf, 4)[0] < seq:
                        f.seek(size - _HDR, 1)
                        continue
                    yield mv[:_HDR]
                    rest = size - _HDR
                    while rest > 0:
                        k = rest if rest < _BUF else _BUF
                        if f.readinto(mv[:k]) != k:
                            return
                        yield mv[:k]
                        rest -= k
                    left -= size

    def ack(self, seq):
        """The gateway stored everything up to `seq`: remember it (durably, first), then reclaim."""
        if self.acked != _NONE and seq <= self.acked:
            return
        self.acked = seq
        self._save_state()
        while self.segs and self.segs[0][2] <= seq and (len(self.segs) > 1 or self.f is None):
            s = self.segs.pop(0)
            try:
                os.remove(self._path(s[0]))
            except OSError:
                pass
