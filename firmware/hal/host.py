"""The host board: the MicroPython unix port wired to the simulators (HOSTLINK.md).

    board = Board.from_wiring()        # reads $FACTEUR_WIRING (default ./wiring.json)

UARTs are pty slaves switched to raw, non-blocking reads (`stty raw -echo min 0 time 0`); the I2C
bus, Wi-Fi and the clock go over the host link; flash is a VfsLfs2 on a file-backed block device
(or a plain folder). The clock is lockstep: `sleep_until` only returns when the simulator has
advanced the world to that time, and the scheduler never reads the wall clock.
"""

import asyncio
import gc
import json
import os
import socket
import struct

from micropython import const

_OP_HELLO = const(0x01)
_OP_NOW = const(0x02)
_OP_SLEEP_UNTIL = const(0x03)
_OP_I2C_WRITE = const(0x10)
_OP_I2C_READ = const(0x11)
_OP_I2C_READ_MEM = const(0x12)
_OP_I2C_WRITE_MEM = const(0x13)
_OP_WIFI_SCAN = const(0x20)
_OP_WIFI_CONNECT = const(0x21)
_OP_WIFI_STATUS = const(0x22)
_OP_LOG = const(0x30)

_ST_OK = const(0)
_ST_NACK = const(1)
_ST_END = const(2)


class LinkError(OSError):
    def __init__(self, status, reason):
        super().__init__(status, reason)
        self.status = status
        self.reason = reason


class Link:
    def __init__(self, host, port):
        self.sock = socket.socket()
        self.sock.connect(socket.getaddrinfo(host, port)[0][-1])
        self.tx = bytearray(64)
        self.rx = bytearray(256)
        self.txv = memoryview(self.tx)
        self.rxv = memoryview(self.rx)
        self.hdr = bytearray(3)
        self.requests = 0

    def request(self, op, payload_len):
        """Send op with tx[3:3+payload_len] as payload; returns (status, memoryview of reply)."""
        tx = self.tx
        tx[0] = op
        tx[1] = payload_len & 0xFF
        tx[2] = payload_len >> 8
        self._send(self.txv[: 3 + payload_len])
        self._recv_into(memoryview(self.hdr))
        status = self.hdr[0]
        n = self.hdr[1] | self.hdr[2] << 8
        if n > len(self.rx):
            raise LinkError(255, "reply too long")
        body = self.rxv[:n]
        if n:
            self._recv_into(body)
        self.requests += 1
        return status, body

    def _send(self, mv):
        s = self.sock
        sent = 0
        while sent < len(mv):
            k = s.write(mv[sent:])
            if not k:
                raise LinkError(255, "link closed")
            sent += k

    def _recv_into(self, mv):
        got = 0
        s = self.sock
        while got < len(mv):
            k = s.readinto(mv[got:])
            if not k:
                raise LinkError(255, "link closed")
            got += k

    def call(self, op, payload=b""):
        n = len(payload)
        self.tx[3 : 3 + n] = payload
        return self.request(op, n)

    def u32(self, op, value):
        struct.pack_into("<I", self.tx, 3, value & 0xFFFFFFFF)
        return self.request(op, 4)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


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
        if status == _ST_NACK:
            raise OSError(19)  # ENODEV
        if status != _ST_OK:
            raise OSError(5)  # EIO
        return body

    def writeto(self, addr, buf):
        link = self.link
        n = len(buf)
        link.tx[3] = addr
        link.tx[4 : 4 + n] = buf
        self._check(*link.request(_OP_I2C_WRITE, 1 + n))
        return n

    def readfrom_into(self, addr, buf):
        link = self.link
        struct.pack_into("<BH", link.tx, 3, addr, len(buf))
        body = self._check(*link.request(_OP_I2C_READ, 3))
        buf[: len(body)] = body

    def readfrom_mem_into(self, addr, memaddr, buf):
        link = self.link
        struct.pack_into("<BBH", link.tx, 3, addr, memaddr, len(buf))
        body = self._check(*link.request(_OP_I2C_READ_MEM, 4))
        if len(body) != len(buf):
            raise OSError(5)
        buf[:] = body

    def writeto_mem(self, addr, memaddr, buf):
        link = self.link
        n = len(buf)
        link.tx[3] = addr
        link.tx[4] = memaddr
        link.tx[5 : 5 + n] = buf
        self._check(*link.request(_OP_I2C_WRITE_MEM, 2 + n))


class LinkWiFi:
    def __init__(self, link):
        self.link = link

    def scan(self):
        status, body = self.link.request(_OP_WIFI_SCAN, 0)
        out = []
        if status != _ST_OK or not len(body):
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
        status, body = self.link.call(_OP_WIFI_CONNECT, ssid)
        if status != _ST_OK or not len(body) or not body[0]:
            return False, None, 0
        addr = bytes(body[1:]).decode()
        host, _, port = addr.rpartition(":")
        return True, host, int(port)

    def isconnected(self):
        status, body = self.link.request(_OP_WIFI_STATUS, 0)
        return status == _ST_OK and len(body) > 0 and body[0] == 1


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
        status, body = self.link.u32(_OP_SLEEP_UNTIL, target)
        self.advances += 1
        if len(body) >= 4:
            self.t = struct.unpack_from("<I", body, 0)[0]
        if status == _ST_END:
            self.ended = True
        elif status != _ST_OK:
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


def _flash_root(spec):
    """A folder is used as is; an image file is mounted as VfsLfs2 (code loaded only then)."""
    try:
        if os.stat(spec["path"])[0] & 0x4000:
            return spec["path"]
    except OSError:
        pass
    from hal.hostflash import mount_flash

    return mount_flash(spec)


class Board:
    def __init__(self, wiring):
        host, _, port = wiring["link"].rpartition(":")
        self.link = Link(host, int(port))
        status, body = self.link.call(_OP_HELLO, b"\x01" + FIRMWARE_NAME)
        if status != _ST_OK:
            raise LinkError(status, bytes(body))
        self.clock = LockstepClock(self.link, struct.unpack_from("<I", body, 0)[0])
        uart = wiring.get("uart", {})
        self.gnss = PtyUART(uart["gnss"], 256) if "gnss" in uart else None
        self.pms = PtyUART(uart["pms"], 128) if "pms" in uart else None
        self.modem = PtyUART(uart["modem"], 128) if "modem" in uart else None
        self.i2c = LinkI2C(self.link)
        self.wifi = LinkWiFi(self.link)
        self.flash_root = _flash_root(wiring["flash"])
        self.provision_path = wiring.get("provision", "provision.json")
        self.gateway = None  # the host learns it from WIFI_CONNECT

    @classmethod
    def from_wiring(cls, path=None):
        path = path or os.getenv("FACTEUR_WIRING") or "wiring.json"
        with open(path) as f:
            return cls(json.load(f))

    def now(self):
        status, body = self.link.request(_OP_NOW, 0)
        return struct.unpack_from("<I", body, 0)[0]

    def feed_watchdog(self):
        pass  # the simulator watches the link instead

    def free_heap(self):
        return gc.mem_free()

    def log(self, msg):
        try:
            self.link.call(_OP_LOG, msg.encode() if isinstance(msg, str) else msg)
        except OSError:
            pass

    def close(self):
        for u in (self.gnss, self.pms, self.modem):
            if u is not None:
                u.close()
        self.link.close()
