"""Boot-time recovery of the flash log (imported by FlashLog.recover, released after the boot).

Every segment is scanned block by block: magic, length, CRC-32 (computed in buffer-sized pieces),
seq contiguity. A segment stops at its first torn or corrupt block (counted in `torn`); that tail
is never surfaced and new blocks go to a new segment. The state file (boot count, acked seq,
dropped counter, seq floor) is read first so that seqs are never reused after a reclaim.
"""

import os
import struct
from binascii import crc32

from micropython import const

_HDR = const(12)
_BUF = const(256)
_STATE = "state"
_NONE = const(0xFFFFFFFF)


def load_state(log):
    try:
        with open(log.root + "/" + _STATE, "rb") as f:
            b = f.read(20)
    except OSError:
        return
    if len(b) == 20 and crc32(b[:16]) == struct.unpack_from("<I", b, 16)[0]:
        log.boot_count, log.acked, log.dropped, floor = struct.unpack_from("<IIII", b, 0)
        if floor > log.next_seq:
            log.next_seq = floor


def scan(log, n):
    """(first_seq, last_seq, valid_bytes, torn) of segment n, validating every block."""
    first = last = -1
    pos = 0
    torn = False
    buf = log.buf
    mv = log.mv
    with open(log._path(n), "rb") as f:
        while True:
            got = f.readinto(mv[:_HDR])
            if not got:
                break
            if got < _HDR or buf[0] != 0x46 or buf[1] != 0x42:
                torn = True
                break
            seq = struct.unpack_from("<I", buf, 4)[0]
            left = buf[10] | buf[11] << 8
            crc = crc32(mv[:_HDR])
            while left > 0:  # payload in buffer-sized pieces: the buffer stays small
                k = left if left < _BUF else _BUF
                if f.readinto(mv[:k]) != k:
                    torn = True
                    break
                crc = crc32(mv[:k], crc)
                left -= k
            if torn or f.readinto(mv[:4]) != 4 or struct.unpack_from("<I", buf, 0)[0] != crc:
                torn = True
                break
            if first >= 0 and seq != last + 1:
                torn = True  # never written by us in this order: treat as corrupt
                break
            if first < 0:
                first = seq
            last = seq
            pos = f.tell()
    return first, last, pos, torn


def recover(log):
    """Scan the log after boot; returns the next seq to use. Increments the boot count."""
    log.close()
    load_state(log)
    names = []
    for name in os.listdir(log.root):
        if len(name) == 12 and name[8:] == ".seg":
            try:
                names.append(int(name[:8]))
            except ValueError:
                pass
    names.sort()
    log.segs = []
    top = -1
    for n in names:
        first, last, valid, torn = scan(log, n)
        if torn:
            log.torn += 1
        if first < 0:
            os.remove(log._path(n))
            continue
        log.segs.append([n, first, last, valid, torn])
        if last > top:
            top = last
    if top >= 0 and top + 1 > log.next_seq:
        log.next_seq = top + 1
    if log.acked != _NONE and log.acked + 1 > log.next_seq:
        log.next_seq = log.acked + 1
    log.boot_count += 1
    log._save_state()
    return log.next_seq
