"""LIS3DH-like 3-axis accelerometer on I2C (address 0x18): 100 Hz, +-4 g high resolution, FIFO stream.

acc = LIS3DH(i2c)              # WHO_AM_I must read 0x33, else OSError
n = acc.drain(zbuf, xbuf)      # FIFO samples -> array('h') in mg, returns how many were added
"""

from micropython import const

_ADDR = const(0x18)
_WHO_AM_I = const(0x0F)
_CTRL_REG1 = const(0x20)
_CTRL_REG4 = const(0x23)
_CTRL_REG5 = const(0x24)
_FIFO_CTRL = const(0x2E)
_FIFO_SRC = const(0x2F)
_OUT_X_L_AUTO = const(0xA8)
_IDENT = const(0x33)
_FIFO_DEPTH = const(32)


class LIS3DH:
    def __init__(self, i2c, address=_ADDR, odr_hz=100):
        self.i2c = i2c
        self.addr = address
        self.one = bytearray(1)
        self.raw = bytearray(6 * _FIFO_DEPTH)
        self.mv = memoryview(self.raw)
        self.samples = 0
        self.overruns = 0
        self.errors = 0
        i2c.readfrom_mem_into(address, _WHO_AM_I, self.one)
        if self.one[0] != _IDENT:
            raise OSError(19)  # ENODEV: not a LIS3DH
        odr = 0x60 if odr_hz >= 200 else 0x50
        i2c.writeto_mem(address, _CTRL_REG1, bytes((odr | 0x07,)))  # ODR, X/Y/Z enabled
        i2c.writeto_mem(address, _CTRL_REG4, b"\x18")  # FS +-4 g (01), HR
        i2c.writeto_mem(address, _CTRL_REG5, b"\x40")  # FIFO_EN
        i2c.writeto_mem(address, _FIFO_CTRL, b"\x80")  # stream mode

    def drain(self, xs, zs, start):
        """Read every waiting FIFO sample; x and z in mg (2 mg/digit) into xs/zs from `start`.

        Returns the number of samples stored (bounded by the arrays' room).
        """
        try:
            self.i2c.readfrom_mem_into(self.addr, _FIFO_SRC, self.one)
            src = self.one[0]
            if src & 0x40:
                self.overruns += 1
            k = src & 0x1F
            room = len(zs) - start
            if k > room:
                k = room
            if k <= 0:
                return 0
            mv = self.mv[: 6 * k]
            self.i2c.readfrom_mem_into(self.addr, _OUT_X_L_AUTO, mv)
        except OSError:
            self.errors += 1
            return 0
        raw = self.raw
        j = start
        for i in range(0, 6 * k, 6):
            x = raw[i + 1] << 8 | raw[i]
            z = raw[i + 5] << 8 | raw[i + 4]
            if x & 0x8000:
                x -= 0x10000
            if z & 0x8000:
                z -= 0x10000
            # 12-bit left-justified: >> 4 gives digits; 2 mg per digit at +-4 g HR
            xs[j] = (x >> 4) * 2
            zs[j] = (z >> 4) * 2
            j += 1
        self.samples += k
        return k

    def counters(self):
        return (self.samples, self.overruns, self.errors)
