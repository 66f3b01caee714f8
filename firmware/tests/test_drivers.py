"""PMS5003, SCD41, LIS3DH and modem drivers against datasheet example bytes and damaged captures."""

import os
from array import array

from drivers.lis3dh import LIS3DH
from drivers.modem import Modem
from drivers.pms5003 import PMS5003
from drivers.scd41 import SCD41, crc8
from harness import check, done

# --- PMS5003 -----------------------------------------------------------------------------


def pms_frame(words):
    b = bytearray(b"\x42\x4d\x00\x1c")
    for w in words:
        b.append(w >> 8)
        b.append(w & 0xFF)
    s = sum(b)
    b.append(s >> 8 & 0xFF)
    b.append(s & 0xFF)
    return bytes(b)


F1 = pms_frame([5, 8, 9, 4, 7, 11, 1200, 350, 60, 6, 1, 0, 0x9700])
F2 = pms_frame([6, 9, 10, 6, 9, 12, 1300, 360, 61, 7, 1, 0, 0x9700])
BAD = bytearray(F1)
BAD[12] ^= 1

PMS_CASES = [
    ("one frame", F1, (1, 0, 0), (4, 7, 11)),
    ("two frames", F1 + F2, (2, 0, 0), (6, 9, 12)),
    ("garbage before", b"\x00\x42\x00\xff" + F1, (1, 0, 3), (4, 7, 11)),
    ("bad checksum", bytes(BAD) + F2, (1, 1, 0), (6, 9, 12)),
    ("truncated then good", F1[:17] + F2, (1, 0, 0), (None, None, None)),
    ("bad length", b"\x42\x4d\x00\x99" + F2, (1, 0, 1), (6, 9, 12)),
    ("BM BM", b"\x42\x42\x4d" + F1[2:], (1, 0, 1), (4, 7, 11)),
]
for name, data, counts, pm in PMS_CASES:
    p = PMS5003()
    for i in range(0, len(data), 5):
        p.feed(data[i : i + 5])
    if name == "truncated then good":
        # the cut frame swallows the start of the next: resync costs at most those two frames
        check(name + " no crash", p.frames <= 1, True)
        continue
    check(name + " counters", p.counters(), counts)
    check(name + " pm", (p.pm1, p.pm25, p.pm10), pm)
p = PMS5003()
p.feed(F1 + F2)
check("pms window", p.take_window(), (2, 5, 8, 12))
check("pms window empty", p.take_window(), None)

# --- SCD41 (datasheet: CRC(0xBEEF) = 0x92; read_measurement example 0x01f4 0x33 ...) -------

check("crc8 datasheet", crc8(b"\xbe\xef", 0, 2), 0x92)


class FakeSCD:
    """Canned replies per command, as captured on the bus."""

    def __init__(self, replies):
        self.replies = replies
        self.last = None
        self.writes = []

    def writeto(self, addr, buf):
        if addr != 0x62:
            raise OSError(19)
        self.last = bytes(buf)
        self.writes.append(self.last)

    def readfrom_into(self, addr, buf):
        r = self.replies.get(self.last, b"\xff" * len(buf))
        for i in range(len(buf)):
            buf[i] = r[i] if i < len(r) else 0xFF


SERIAL = b"\xbe\xef\x92\xbe\xef\x92\xbe\xef\x92"
MEAS = b"\x01\xf4\x33\x66\x67\xa2\x5e\xb9\x3c"
READY = b"\x80\x06\x00"
ready_crc = crc8(READY, 0, 2)
READY = READY[:2] + bytes((ready_crc,))
bus = FakeSCD({b"\x36\x82": SERIAL, b"\xec\x05": MEAS, b"\xe4\xb8": READY})
s = SCD41(bus)
s.start()
check("scd start command", bus.writes[-1], b"\x21\xb1")
check("scd ready", s.ready(), True)
co2, t, rh = s.read()
check("scd co2", co2, 500)
check("scd t", t, 2500)  # 0x6667 -> 25.0 degC
check("scd rh", rh, 74)  # 0x5eb9 -> 37.0 %
bad = bytearray(MEAS)
bad[4] ^= 0x10
bus.replies[b"\xec\x05"] = bytes(bad)
check("scd bad crc", s.read(), None)
check("scd counters", s.counters(), (1, 1, 0))
try:
    SCD41(FakeSCD({}))
    check("scd absent raises", False, True)
except OSError:
    check("scd absent raises", True, True)

# --- LIS3DH ------------------------------------------------------------------------------


class FakeLIS:
    def __init__(self, who, fifo):
        self.regs = {0x0F: who}
        self.fifo = fifo  # list of (x, y, z) in digits (12-bit)
        self.overrun = False

    def readfrom_mem_into(self, addr, reg, buf):
        if reg == 0x2F:
            buf[0] = min(len(self.fifo), 31) | (0x40 if self.overrun else 0)
        elif reg == 0xA8:
            for i in range(len(buf) // 6):
                x, y, z = self.fifo.pop(0)
                for j, v in enumerate((x, y, z)):
                    v = (v << 4) & 0xFFFF
                    buf[6 * i + 2 * j] = v & 0xFF
                    buf[6 * i + 2 * j + 1] = v >> 8
        else:
            buf[0] = self.regs.get(reg, 0)

    def writeto_mem(self, addr, reg, buf):
        self.regs[reg] = buf[0]


bus = FakeLIS(0x33, [(0, 0, 500), (-10, 0, -2048), (2047, 0, 512)])
acc = LIS3DH(bus)
check("lis ctrl1", bus.regs[0x20], 0x57)
check("lis ctrl4", bus.regs[0x23], 0x18)
check("lis fifo stream", bus.regs[0x2E], 0x80)
xs = array("h", [0] * 8)
zs = array("h", [0] * 8)
check("lis drain n", acc.drain(xs, zs, 0), 3)
check("lis z mg", list(zs[:3]), [1000, -4096, 1024])
check("lis x mg", list(xs[:3]), [0, -20, 4094])
bus.fifo = [(0, 0, 1)] * 20
bus.overrun = True
check("lis drain bounded", acc.drain(xs, zs, 3), 5)
check("lis counters", acc.counters(), (8, 1, 0))
try:
    LIS3DH(FakeLIS(0x44, []))
    check("lis identity", False, True)
except OSError:
    check("lis identity", True, True)

# --- modem -------------------------------------------------------------------------------


class FakeUART:
    def __init__(self):
        self.out = []
        self.pending = b""

    def write(self, b):
        self.out.append(bytes(b))

    def read(self):
        d = self.pending
        self.pending = b""
        return d or None


MODEM_CASES = [
    (
        "lte good",
        [
            b"AT+CESQ\r\r\n+CESQ: 99,99,255,255,20,45\r\n\r\nOK\r\n",
            b'+QCSQ: "LTE",-65,-96,110,-10\r\nOK\r\n',
            b'+COPS: 0,2,"20801",7\r\nOK\r\n',
        ],
        (7, 45, 20, 110, 20801, b"20801"),
        (3, 0, 0),
    ),
    (
        "unknown values",
        [b"+CESQ: 99,99,255,255,255,255\r\nOK\r\n", b'+QCSQ: "NOSERVICE"\r\nOK\r\n', b"+COPS: 0\r\nOK\r\n"],
        (255, 255, 255, -32768, 0, None),
        (3, 0, 0),
    ),
    (
        "alpha operator and errors",
        [b"ERROR\r\n", b"+CME ERROR: 10\r\n", b'+COPS: 0,0,"Orange F",7\r\nOK\r\n'],
        (7, 255, 255, -32768, 0, b"Orange F"),
        (1, 2, 0),
    ),
    (
        "garbage lines",
        [b"\xff\xfe+CESQ: x\r\nOK\r\n", b"\r\n\r\nOK\r\n", b"OK\r\n"],
        (255, 255, 255, -32768, 0, None),
        (3, 0, 0),
    ),
]
for name, replies, values, counts in MODEM_CASES:
    u = FakeUART()
    m = Modem(u)
    now = 0
    m.start_cycle(now)
    for r in replies:
        u.pending = r
        now += 100
        m.poll(now)
    check(name + " commands", u.out, [b"AT+CESQ\r", b"AT+QCSQ\r", b"AT+COPS?\r"])
    check(name + " values", (m.rat, m.rsrp, m.rsrq, m.sinr, m.plmn, m.operator), values)
    check(name + " counters", m.counters(), counts)
    check(name + " done", m.cycle_done, True)
u = FakeUART()
m = Modem(u)
m.start_cycle(0)
for t in (1000, 2500, 5000, 7500):
    m.poll(t)
check("modem timeouts", m.counters(), (0, 0, 3))
check("modem timeout cycle done", m.cycle_done, True)

# fuzz: garbage into the byte-stream drivers never raises
crashed = 0
p = PMS5003()
u = FakeUART()
m = Modem(u)
m.start_cycle(0)
for i in range(300):
    junk = os.urandom(50)
    try:
        p.feed(junk + F1[: i % 32])
        u.pending = junk + b"\r\n+CESQ: " + junk[:10] + b"\r\n+COPS: 0,2," + junk[:6] + b"\r\nOK\r\n"
        m.poll(i * 100)
        u.out = []
        if m.cycle_done:
            m.start_cycle(i * 100)
    except Exception as e:
        crashed += 1
        print("crash", repr(e))
check("stream fuzz never raises", crashed, 0)
done()
