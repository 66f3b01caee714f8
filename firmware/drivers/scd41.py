"""Sensirion SCD41 CO2 / temperature / humidity on I2C (address 0x62), periodic measurement mode.

Commands are 16-bit big-endian; every reply word is followed by CRC-8 (poly 0x31, init 0xFF).

    scd = SCD41(i2c)             # checks the serial number reply (CRC) -> OSError if absent
    scd.start()
    if scd.ready(): co2, t_centi, rh_half = scd.read()
"""

from micropython import const

_ADDR = const(0x62)
_START = const(0x21B1)
_STOP = const(0x3F86)
_READY = const(0xE4B8)
_READ = const(0xEC05)
_SERIAL = const(0x3682)


def crc8(buf, start, n):
    crc = 0xFF
    for i in range(start, start + n):
        crc ^= buf[i]
        for _ in range(8):
            crc = ((crc << 1) ^ 0x31) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


class SCD41:
    def __init__(self, i2c, address=_ADDR):
        self.i2c = i2c
        self.addr = address
        self.cmd = bytearray(2)
        self.rx = bytearray(9)
        self.words = [0, 0, 0]
        self.reads = 0
        self.crc_fails = 0
        self.errors = 0
        # identity: the serial number must come back with valid CRCs
        self._command(_STOP)
        if not self._read_words(_SERIAL, 3):
            raise OSError(19)  # ENODEV: nothing SCD4x-like answers

    def _command(self, cmd):
        self.cmd[0] = cmd >> 8
        self.cmd[1] = cmd & 0xFF
        self.i2c.writeto(self.addr, self.cmd)

    def _read_words(self, cmd, n):
        self._command(cmd)
        rx = memoryview(self.rx)[: 3 * n]
        self.i2c.readfrom_into(self.addr, rx)
        for i in range(n):
            if crc8(rx, 3 * i, 2) != rx[3 * i + 2]:
                self.crc_fails += 1
                return False
            self.words[i] = rx[3 * i] << 8 | rx[3 * i + 1]
        return True

    def start(self):
        self._command(_START)

    def ready(self):
        try:
            if not self._read_words(_READY, 1):
                return False
        except OSError:
            self.errors += 1
            return False
        return (self.words[0] & 0x07FF) != 0

    def read(self):
        """(co2 ppm, temperature 0.01 degC, humidity 0.5 %) or None on a CRC/bus error."""
        try:
            if not self._read_words(_READ, 3):
                return None
        except OSError:
            self.errors += 1
            return None
        w = self.words
        self.reads += 1
        # T = -45 + 175 w / 65535 degC ; RH = 100 w / 65535 %
        t_centi = -4500 + (17500 * w[1] + 32767) // 65535
        rh_half = (200 * w[2] + 32767) // 65535
        return w[0], t_centi, rh_half

    def counters(self):
        return (self.reads, self.crc_fails, self.errors)
