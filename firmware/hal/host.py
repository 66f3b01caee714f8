"""The host board: the MicroPython unix port wired to the simulators (HOSTLINK.md).

    board = Board.from_wiring()        # reads $FACTEUR_WIRING (default ./wiring.json)

UARTs are pty slaves switched to raw, non-blocking reads (`stty raw -echo min 0 time 0`); the I2C
bus, Wi-Fi and the clock go over the host link; flash is a plain folder or a VfsLfs2 on a
file-backed block device (hal/hostflash.py). The clock is lockstep: `sleep_until` only returns
when the simulator has advanced the world to that time; the scheduler never reads the wall clock.

One object is the link, the I2C bus (machine.I2C's transfer methods) and the Wi-Fi (scan,
connect, isconnected): fewer classes keep the heap small (a 64 KiB budget for everything).
"""

import asyncio
import gc
import os
import socket
import struct

from micropython import const

_OP_HELLO = const(0x01)
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
_AF_UNIX = const(1)  # Linux
_BUSY_STEP_MS = const(100)  # the clock's largest step while a task works a real socket (upload)
_Event = asyncio.Event  # asyncio loads its submodules lazily: do it at boot, not on a full heap


class PtyUART:
    def __init__(self, path, rxbuf):
        os.system("stty -F %s raw -echo min 0 time 0 2>/dev/null" % path)
        self.f = open(path, "r+b")
        self.buf = bytearray(rxbuf)
        self.mv = memoryview(self.buf)

    def read(self):
        """Whatever bytes are waiting (a memoryview valid until the next read), or None."""
        n = self.f.readinto(self.buf)
        return self.mv[:n] if n else None

    def write(self, data):
        self.f.write(data)  # unbuffered; flush() would fsync, which a tty refuses (EINVAL)


class LockstepClock:
    """Board time served by the simulator. Tasks await sleep_until(t); the driver task `run` asks
    the simulator to advance to the earliest deadline once every ready task has run.

    A sleeper takes a slot [deadline, event] and gives it back when woken: the slots (one per task
    that ever slept at the same time) are reused, so sleeping allocates nothing.

    While `busy` (a task waits on a real socket: the depot upload) time advances by at most
    100 ms a step, so the socket gets wall time between steps however far apart the sleepers'
    deadlines are (4 wakes a second otherwise: an upload would see 250 ms go by per poll)."""

    def __init__(self, board, now):
        self.b = board
        self.t = now
        self.slots = []  # [deadline or None when free, event]
        self.ended = False
        self.busy = 0

    def now(self):
        return self.t

    async def sleep_until(self, t):
        if self.ended:
            return
        if t - self.t <= 0:
            await asyncio.sleep_ms(0)
            return
        for slot in self.slots:
            if slot[0] is None:
                break
        else:
            slot = [None, _Event()]
            self.slots.append(slot)
        slot[0] = t
        ev = slot[1]
        ev.clear()
        await ev.wait()

    async def run(self):
        b = self.b
        tx = b.tx
        slots = self.slots
        while not self.ended:
            # Two yields: tasks woken by the last advance run, and whatever they woke runs too.
            await asyncio.sleep_ms(0)
            await asyncio.sleep_ms(0)
            # Nobody waiting on the clock (tasks busy on sockets, or gone): time still moves, or a
            # scenario with no sleeper left would spin here for ever.
            target = None
            for slot in slots:
                d = slot[0]
                if d is not None and (target is None or d - target < 0):
                    target = d
            if target is None:
                target = self.t + 100
            if self.busy and target - self.t > _BUSY_STEP_MS:
                target = self.t + _BUSY_STEP_MS
            tx[3] = target & 0xFF
            tx[4] = (target >> 8) & 0xFF
            tx[5] = (target >> 16) & 0xFF
            tx[6] = (target >> 24) & 0xFF
            status, body = b.request(_OP_SLEEP_UNTIL, 4)
            if len(body) >= 4:
                self.t = body[0] | body[1] << 8 | body[2] << 16 | body[3] << 24
            if status == _ST_END:
                self.ended = True
            elif status != _ST_OK:
                raise OSError(status)
            t = self.t
            for slot in slots:
                d = slot[0]
                if d is not None and (self.ended or d - t <= 0):
                    slot[0] = None
                    slot[1].set()
        for slot in slots:
            if slot[0] is not None:
                slot[0] = None
                slot[1].set()


class Board:
    def __init__(self, wiring):
        link = wiring["link"]
        if link.startswith("unix:"):  # "unix:/path", or "unix:@name" in the abstract namespace
            path = link[5:]
            path = b"\0" + path[1:].encode() if path.startswith("@") else path.encode() + b"\0"
            s = socket.socket(_AF_UNIX, socket.SOCK_STREAM)
            s.connect(struct.pack("H", _AF_UNIX) + path)  # struct sockaddr_un
        else:
            host, _, port = link.rpartition(":")
            s = socket.socket()
            s.connect(socket.getaddrinfo(host, int(port))[0][-1])
        self.sock = s
        self.tx = bytearray(64)
        self.rx = bytearray(3 + 256)  # status, length, then the reply
        self.rxv = memoryview(self.rx)
        self.txv = memoryview(self.tx)
        status, body = self.call(_OP_HELLO, b"\x01facteur-fw/1")
        if status != _ST_OK:
            raise OSError(status)
        self.clock = LockstepClock(self, struct.unpack_from("<I", body, 0)[0])
        uart = wiring["uart"]
        self.gnss = PtyUART(uart["gnss"], 256)
        self.pms = PtyUART(uart["pms"], 128)
        self.modem = PtyUART(uart["modem"], 128)
        self.i2c = self
        self.wifi = self
        spec = wiring["flash"]
        try:
            folder = os.stat(spec["path"])[0] & 0x4000
        except OSError:
            folder = False
        if folder:
            self.flash_root = spec["path"]
        else:
            from hal.hostflash import mount_flash

            self.flash_root = mount_flash(spec)
        self.provision_path = wiring.get("provision", "provision.json")

    @classmethod
    def from_wiring(cls, path=None):
        import json

        with open(path or os.getenv("FACTEUR_WIRING") or "wiring.json") as f:
            return cls(json.load(f))

    # --- the link: op u8 | len u16 | payload -> status u8 | len u16 | payload -----------------

    def request(self, op, n):
        """Send op with tx[3:3+n] as payload; returns (status, reply memoryview, valid until next)."""
        tx = self.tx
        tx[0] = op
        tx[1] = n & 0xFF
        tx[2] = n >> 8
        s = self.sock
        mv = self.txv
        n += 3
        done = 0
        while done < n:
            k = s.write(mv[done:n])
            if not k:
                raise OSError(104)  # ECONNRESET: the simulator went away
            done += k
        # A stream readinto fills its whole buffer: the header first, then exactly the body.
        rx = self.rx
        mv = self.rxv
        if s.readinto(mv[:3]) != 3:
            raise OSError(104)
        n = 3 + (rx[1] | rx[2] << 8)
        if n > len(rx):
            raise OSError(5)
        if n > 3 and s.readinto(mv[3:n]) != n - 3:
            raise OSError(104)
        return rx[0], mv[3:n]

    def call(self, op, payload):
        n = len(payload)
        self.tx[3 : 3 + n] = payload
        return self.request(op, n)

    # --- machine.I2C ----------------------------------------------------------------------------

    def _i2c(self, op, n):
        status, body = self.request(op, n)
        if status == _ST_NACK:
            raise OSError(19)  # ENODEV
        if status != _ST_OK:
            raise OSError(5)  # EIO
        return body

    def writeto(self, addr, buf):
        self.tx[3] = addr
        self.tx[4 : 4 + len(buf)] = buf
        self._i2c(_OP_I2C_WRITE, 1 + len(buf))

    def writeto_mem(self, addr, memaddr, buf):
        self.tx[3] = addr
        self.tx[4] = memaddr
        self.tx[5 : 5 + len(buf)] = buf
        self._i2c(_OP_I2C_WRITE_MEM, 2 + len(buf))

    def readfrom_into(self, addr, buf):
        struct.pack_into("<BH", self.tx, 3, addr, len(buf))
        body = self._i2c(_OP_I2C_READ, 3)
        buf[: len(body)] = body

    def readfrom_mem_into(self, addr, memaddr, buf):
        struct.pack_into("<BBH", self.tx, 3, addr, memaddr, len(buf))
        body = self._i2c(_OP_I2C_READ_MEM, 4)
        if len(body) != len(buf):
            raise OSError(5)
        buf[:] = body

    # --- Wi-Fi ------------------------------------------------------------------------------------

    def scan(self):
        status, body = self.request(_OP_WIFI_SCAN, 0)
        out = []
        if status == _ST_OK and len(body):
            p = 1
            for _ in range(body[0]):
                n = body[p]
                rssi = body[p + 1 + n]
                out.append((bytes(body[p + 1 : p + 1 + n]), rssi - 256 if rssi > 127 else rssi))
                p += 2 + n
        return out

    def connect(self, ssid):
        status, body = self.call(_OP_WIFI_CONNECT, ssid)
        if status != _ST_OK or not len(body) or not body[0]:
            return False, None, 0
        host, _, port = bytes(body[1:]).decode().rpartition(":")
        return True, host, int(port)

    def isconnected(self):
        status, body = self.request(_OP_WIFI_STATUS, 0)
        return status == _ST_OK and len(body) > 0 and body[0] == 1

    # --- the rest of the board ---------------------------------------------------------------------

    def feed_watchdog(self):
        pass  # the simulator watches the link instead

    def free_heap(self):
        return gc.mem_free()

    def log(self, msg):
        try:
            self.call(_OP_LOG, msg.encode() if isinstance(msg, str) else msg)
        except OSError:
            pass

    def close(self):
        for u in (self.gnss, self.pms, self.modem):
            u.f.close()
        self.sock.close()
