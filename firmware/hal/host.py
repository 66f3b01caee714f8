"""The host board: the MicroPython unix port wired to the simulators (HOSTLINK.md).

    board = Board.from_wiring()        # reads $FACTEUR_WIRING (default ./wiring.json)

UARTs are pty slaves switched to raw, non-blocking reads (`stty raw -echo min 0 time 0`); the I2C
bus, Wi-Fi and the clock go over the host link; flash is a VfsLfs2 on a file-backed block device
(or a plain folder). The clock is lockstep: `sleep_until` only returns when the simulator has
advanced the world to that time, and the scheduler never reads the wall clock.
"""

import gc
import json
import os
import struct

try:
    import asyncio
except ImportError:  # pragma: no cover
    asyncio = None

from hal.link import (
    OP_HELLO,
    OP_I2C_READ,
    OP_I2C_READ_MEM,
    OP_I2C_WRITE,
    OP_I2C_WRITE_MEM,
    OP_LOG,
    OP_NOW,
    OP_SLEEP_UNTIL,
    OP_WIFI_CONNECT,
    OP_WIFI_SCAN,
    OP_WIFI_STATUS,
    ST_END,
    ST_NACK,
    ST_OK,
    Link,
    LinkError,
)

FIRMWARE_NAME = b"facteur-fw/1"


class PtyUART:
    def __init__(self, path, rxbuf=512):
        os.system("stty -F %s raw -echo min 0 time 0 2>/dev/null" % path)
        self.f = open(path, "r+b")
        self.buf = bytearray(rxbuf)
        self.mv = memoryview(self.buf)

    def read(self):
        """Whatever bytes are waiting (a memoryview valid until the next read), or None."""
        n = self.f.readinto(self.buf)
        if not n:
            return None
        return self.mv[:n]

    def write(self, data):
        self.f.write(data)  # unbuffered; flush() would fsync, which a tty refuses (EINVAL)

    def close(self):
        self.f.close()


class LinkI2C:
    """machine.I2C's memory/plain transfer methods over the host link."""

    def __init__(self, link):
        self.link = link

    def _check(self, status, body):
        if status == ST_NACK:
            raise OSError(19)  # ENODEV
        if status != ST_OK:
            raise OSError(5)  # EIO
        return body

    def writeto(self, addr, buf):
        link = self.link
        n = len(buf)
        link.tx[3] = addr
        link.tx[4 : 4 + n] = buf
        self._check(*link.request(OP_I2C_WRITE, 1 + n))
        return n

    def readfrom_into(self, addr, buf):
        link = self.link
        struct.pack_into("<BH", link.tx, 3, addr, len(buf))
        body = self._check(*link.request(OP_I2C_READ, 3))
        buf[: len(body)] = body

    def readfrom_mem_into(self, addr, memaddr, buf):
        link = self.link
        struct.pack_into("<BBH", link.tx, 3, addr, memaddr, len(buf))
        body = self._check(*link.request(OP_I2C_READ_MEM, 4))
        if len(body) != len(buf):
            raise OSError(5)
        buf[:] = body

    def writeto_mem(self, addr, memaddr, buf):
        link = self.link
        n = len(buf)
        link.tx[3] = addr
        link.tx[4] = memaddr
        link.tx[5 : 5 + n] = buf
        self._check(*link.request(OP_I2C_WRITE_MEM, 2 + n))


class LinkWiFi:
    def __init__(self, link):
        self.link = link

    def scan(self):
        status, body = self.link.request(OP_WIFI_SCAN, 0)
        out = []
        if status != ST_OK or not len(body):
            return out
        count = body[0]
        p = 1
        for _ in range(count):
            n = body[p]
            ssid = bytes(body[p + 1 : p + 1 + n])
            rssi = body[p + 1 + n]
            if rssi > 127:
                rssi -= 256
            out.append((ssid, rssi))
            p += 2 + n
        return out

    def connect(self, ssid):
        status, body = self.link.call(OP_WIFI_CONNECT, ssid)
        if status != ST_OK or not len(body) or not body[0]:
            return False, None, 0
        addr = bytes(body[1:]).decode()
        host, _, port = addr.rpartition(":")
        return True, host, int(port)

    def isconnected(self):
        status, body = self.link.request(OP_WIFI_STATUS, 0)
        return status == ST_OK and len(body) > 0 and body[0] == 1


class LockstepClock:
    """Board time served by the simulator. Tasks await sleep_until(t); one driver task asks the
    simulator to advance to the earliest deadline once every ready task has run."""

    def __init__(self, link, now):
        self.link = link
        self.t = now
        self.waiters = []  # [deadline, event]
        self.ended = False
        self.advances = 0

    def now(self):
        return self.t

    async def sleep_until(self, t):
        if self.ended:
            return
        if t - self.t <= 0:
            await asyncio.sleep_ms(0)
            return
        ev = asyncio.Event()
        self.waiters.append([t, ev])
        await ev.wait()

    async def sleep_ms(self, ms):
        await self.sleep_until(self.t + ms)

    def _advance(self, target):
        status, body = self.link.u32(OP_SLEEP_UNTIL, target)
        self.advances += 1
        if len(body) >= 4:
            self.t = struct.unpack_from("<I", body, 0)[0]
        if status == ST_END:
            self.ended = True
        elif status != ST_OK:
            raise LinkError(status, bytes(body))

    async def run(self):
        """The clock driver: advance time whenever every other task is waiting on it."""
        while not self.ended:
            # Two yields: tasks woken by the last advance run, and whatever they woke runs too.
            await asyncio.sleep_ms(0)
            await asyncio.sleep_ms(0)
            w = self.waiters
            if not w:
                continue
            target = w[0][0]
            for item in w:
                if item[0] - target < 0:
                    target = item[0]
            self._advance(target)
            keep = []
            for item in w:
                if self.ended or item[0] - self.t <= 0:
                    item[1].set()
                else:
                    keep.append(item)
            self.waiters = keep
        for item in self.waiters:
            item[1].set()
        self.waiters = []


class FileBlockDevice:
    """A file-backed block device for os.VfsLfs2 (the 2 MiB ESP32 partition as a file)."""

    def __init__(self, path, block_size, blocks):
        self.bs = block_size
        self.n = blocks
        try:
            os.stat(path)
        except OSError:
            with open(path, "wb") as f:
                ff = b"\xff" * block_size
                for _ in range(blocks):
                    f.write(ff)
        self.f = open(path, "r+b")

    def readblocks(self, block, buf, offset=0):
        self.f.seek(block * self.bs + offset)
        self.f.readinto(buf)

    def writeblocks(self, block, buf, offset=0):
        self.f.seek(block * self.bs + offset)
        self.f.write(buf)
        self.f.flush()

    def ioctl(self, op, arg):
        if op == 4:
            return self.n
        if op == 5:
            return self.bs
        if op == 6:
            self.f.seek(arg * self.bs)
            self.f.write(b"\xff" * self.bs)
            return 0
        return 0


def mount_flash(spec, mountpoint="/flash"):
    """Mount the wiring file's flash; returns the folder the firmware writes to."""
    path = spec["path"]
    try:
        is_dir = os.stat(path)[0] & 0x4000
    except OSError:
        is_dir = False
    if is_dir:
        return path
    dev = FileBlockDevice(path, spec.get("block_size", 4096), spec.get("blocks", 512))
    try:
        vfs = os.VfsLfs2(dev)
    except OSError:
        os.VfsLfs2.mkfs(dev)
        vfs = os.VfsLfs2(dev)
    os.mount(vfs, mountpoint)
    return mountpoint


class Board:
    def __init__(self, wiring):
        host, _, port = wiring["link"].rpartition(":")
        self.link = Link(host, int(port))
        status, body = self.link.call(OP_HELLO, b"\x01" + FIRMWARE_NAME)
        if status != ST_OK:
            raise LinkError(status, bytes(body))
        self.clock = LockstepClock(self.link, struct.unpack_from("<I", body, 0)[0])
        uart = wiring.get("uart", {})
        self.gnss = PtyUART(uart["gnss"], 512) if "gnss" in uart else None
        self.pms = PtyUART(uart["pms"], 128) if "pms" in uart else None
        self.modem = PtyUART(uart["modem"], 256) if "modem" in uart else None
        self.i2c = LinkI2C(self.link)
        self.wifi = LinkWiFi(self.link)
        self.flash_root = mount_flash(wiring["flash"])
        self.provision_path = wiring.get("provision", "provision.json")
        self.gateway = None  # the host learns it from WIFI_CONNECT

    @classmethod
    def from_wiring(cls, path=None):
        path = path or os.getenv("FACTEUR_WIRING") or "wiring.json"
        with open(path) as f:
            return cls(json.load(f))

    def now(self):
        status, body = self.link.request(OP_NOW, 0)
        return struct.unpack_from("<I", body, 0)[0]

    def feed_watchdog(self):
        pass  # the simulator watches the link instead

    def free_heap(self):
        return gc.mem_free()

    def log(self, msg):
        try:
            self.link.call(OP_LOG, msg.encode() if isinstance(msg, str) else msg)
        except OSError:
            pass

    def close(self):
        for u in (self.gnss, self.pms, self.modem):
            if u is not None:
                u.close()
        self.link.close()
