"""Flash log: recovery rules, drop-oldest, and the power-cut sweep on os.VfsLfs2.

The block device cuts power after N program/erase operations (the Nth program is torn: only half
of it reaches the flash). For every N in the sweep: remount, recover, and check that no synced
block is lost and no corrupt block is surfaced. POWERCUT_STRIDE (a global set by the caller)
samples every k-th N; 1 sweeps them all.
"""

# heap: 2m
import os
import struct
from binascii import crc32

from flashlog import FlashLog
from harness import check, done

STRIDE = globals().get("POWERCUT_STRIDE", 1)
BLOCKS = globals().get("POWERCUT_BLOCKS", 48)
ACK_AT = 20  # after this many appends, the gateway acks seq ACK_AT - 5


class PowerCut(Exception):
    pass


_ERASED = b"\xff" * 512
_DEVICES = {}


class CutDevice:
    """A RAM block device that loses power after `cut_after` program/erase operations.

    The RAM is allocated once and wiped in place: a fresh 128 KiB per sweep step would fragment
    the heap long before the sweep ends.
    """

    def __init__(self, block_size, blocks, cut_after=-1):
        self.bs = block_size
        self.n = blocks
        key = block_size * blocks
        if key not in _DEVICES:
            _DEVICES[key] = bytearray(key)
        self.data = _DEVICES[key]
        mv = memoryview(self.data)
        for b in range(key // 512):
            mv[b * 512 : b * 512 + 512] = _ERASED
        self.ops = 0
        self.cut_after = cut_after

    def _op(self):
        self.ops += 1
        if self.cut_after >= 0 and self.ops > self.cut_after:
            raise PowerCut()

    def readblocks(self, block, buf, offset=0):
        start = block * self.bs + offset
        buf[:] = self.data[start : start + len(buf)]

    def writeblocks(self, block, buf, offset=0):
        start = block * self.bs + offset
        if self.cut_after >= 0 and self.ops + 1 > self.cut_after:
            half = len(buf) // 2  # torn program: the first half lands, then power goes
            self.data[start : start + half] = buf[:half]
            raise PowerCut()
        self._op()
        self.data[start : start + len(buf)] = buf

    def ioctl(self, op, arg):
        if op == 4:
            return self.n
        if op == 5:
            return self.bs
        if op == 6:
            self._op()
            start = arg * self.bs
            self.data[start : start + self.bs] = b"\xff" * self.bs
            return 0
        return 0


def block(seq):
    payload = bytes((seq * 7 + i) & 0xFF for i in range(40 + seq % 30))
    head = struct.pack("<2sBBIHH", b"FB", 1, 0, seq, 1, len(payload)) + payload
    return head + struct.pack("<I", crc32(head))


def mount(dev, fresh):
    if fresh:
        os.VfsLfs2.mkfs(dev)
    os.mount(os.VfsLfs2(dev), "/flash")


def umount():
    try:
        os.umount("/flash")
    except OSError:
        pass


def workload(synced, acked, opened):
    log = FlashLog("/flash/log", max_bytes=60000, seg_max=1024)
    opened.append(log)
    seq = log.recover()
    for i in range(BLOCKS):
        log.append(block(seq))
        synced.append(seq)
        seq += 1
        if i == ACK_AT:
            acked.append(ACK_AT - 5)  # the gateway holds them from here on
            log.ack(ACK_AT - 5)
    log.close()


def verify(name):
    log = FlashLog("/flash/log", max_bytes=60000, seg_max=1024)
    nxt = log.recover()
    out = bytearray(8192)
    seen = []
    corrupt = 0
    seq = log.first_unacked()
    while seq is not None:
        n, first, last = log.read_from(seq, out)
        if n == 0:
            break
        pos = 0
        while pos < n:
            size = 16 + (out[10] if pos == 0 else out[pos + 10]) + (out[pos + 11] << 8)
            raw = bytes(out[pos : pos + size])
            s = struct.unpack_from("<I", raw, 4)[0]
            if raw != block(s):
                corrupt += 1
            seen.append(s)
            pos += size
        seq = last + 1
        # skip a gap (there should be none in this workload)
        if log.first_unacked() is not None and log.first_unacked() > seq:
            seq = log.first_unacked()
        if seq >= nxt:
            break
    log.close()
    return log, nxt, seen, corrupt


# --- plain behaviour ----------------------------------------------------------------------
dev = CutDevice(512, 256)
mount(dev, True)
s, a = [], []
workload(s, a, [])
log, nxt, seen, corrupt = verify("clean")
check("clean next seq", nxt, BLOCKS)
check("clean surfaced after ack", seen, list(range(ACK_AT - 4, BLOCKS)))
check("clean boot count", log.boot_count, 2)
check("clean no corruption", corrupt, 0)
# seqs are never reused: ack everything, reclaim, reboot
log = FlashLog("/flash/log", max_bytes=60000, seg_max=1024)
log.recover()
log.ack(BLOCKS - 1)
log.close()
log = FlashLog("/flash/log", max_bytes=60000, seg_max=1024)
check("seq after full reclaim", log.recover(), BLOCKS)
check("everything acked", log.first_unacked(), None)
umount()

# drop-oldest: a small budget keeps the newest blocks and counts the dropped ones
dev = CutDevice(512, 256)
mount(dev, True)
log = FlashLog("/flash/log", max_bytes=3000, seg_max=1024)
log.recover()
for i in range(60):
    log.append(block(i))
kept = log.first_unacked()
check("drop-oldest keeps newest", log.segs[-1][2], 59)
check("drop-oldest counts", log.dropped, kept)
check("drop-oldest bounded", log.used_bytes() <= 3000, True)
log.close()
log = FlashLog("/flash/log", max_bytes=3000, seg_max=1024)
log.recover()
check("dropped counter persists", log.dropped, kept)
umount()

# torn tail on a plain directory filesystem (the host's "flash is a folder" mode)
root = "/tmp/facteur-flashlog-test-%d" % (os.getpid() if hasattr(os, "getpid") else 1)
try:
    os.mkdir(root)
except OSError:
    pass
log = FlashLog(root + "/log", seg_max=100000)
for name in os.listdir(root + "/log"):
    os.remove(root + "/log/" + name)
log = FlashLog(root + "/log", seg_max=100000)
log.recover()
for i in range(5):
    log.append(block(i))
log.close()
with open(root + "/log/00000000.seg", "ab") as f:
    f.write(block(5)[:30])  # torn write
log = FlashLog(root + "/log", seg_max=100000)
check("torn tail next seq", log.recover(), 5)
check("torn tail counted", log.torn, 1)
log.append(block(5))
out = bytearray(4096)
n, first, last = log.read_from(0, out)
check("torn tail: blocks around it", (first, last), (0, 5))
n, first, last = log.read_from(5, out)
check("new segment after torn tail", (first, last, bytes(out[:n]) == block(5)), (5, 5, True))
log.close()
for name in os.listdir(root + "/log"):
    os.remove(root + "/log/" + name)

# --- the power-cut sweep ------------------------------------------------------------------
dev = CutDevice(512, 256)
mount(dev, True)
base = dev.ops
workload([], [], [])
umount()
total = dev.ops - base
lost = 0
corrupt_total = 0
runs = 0
for n in range(0, total + 1, STRIDE):
    dev = CutDevice(512, 256)
    mount(dev, True)
    dev.cut_after = dev.ops + n
    synced, acked, opened = [], [], []
    try:
        workload(synced, acked, opened)
    except PowerCut:
        # power is gone: drop the open file without letting a finaliser touch the dead device later
        for lg in opened:
            try:
                lg.close()
            except Exception:
                pass
    umount()
    dev.cut_after = -1
    mount(dev, False)
    log, nxt, seen, corrupt = verify("cut")
    umount()
    runs += 1
    floor = acked[-1] if acked else -1
    want = [s for s in synced if s > floor]
    missing = [s for s in want if s not in seen]
    lost += len(missing)
    corrupt_total += corrupt
    if missing or corrupt or (synced and nxt <= synced[-1]):
        print("cut at", n, "missing", missing, "corrupt", corrupt, "next", nxt)
print("powercut ops", total, "runs", runs)
check("powercut synced blocks lost", lost, 0)
check("powercut corrupt blocks surfaced", corrupt_total, 0)
check("powercut sweep ran", runs > 0, True)
done()
