"""Plantower PMS5003 particulate sensor: 32-byte frames on a UART, active mode.

Frame: 0x42 0x4D, frame length u16 BE (= 28), 13 data words u16 BE, checksum u16 BE = sum of bytes 0..29.
Feed bytes in any chunking; resynchronises on the start bytes after garbage.

    pms = PMS5003()
    pms.feed(uart_bytes)            # returns the number of good frames in this call
    pms.pm1, pms.pm25, pms.pm10     # atmospheric environment, ug/m3, of the last good frame
"""

from micropython import const

_FRAME = const(32)


class PMS5003:
    def __init__(self):
        self.buf = bytearray(_FRAME)
        self.n = 0
        self.frames = 0
        self.bad_checksum = 0
        self.resync = 0
        self.pm1 = self.pm25 = self.pm10 = None
        # window sums for the AIR record
        self.win_n = 0
        self.win1 = self.win25 = self.win10 = 0

    def feed(self, data):
        good = 0
        buf = self.buf
        for c in data:
            n = self.n
            if n == 0:
                if c == 0x42:
                    buf[0] = c
                    self.n = 1
                else:
                    self.resync += 1
                continue
            if n == 1:
                if c == 0x4D:
                    buf[1] = c
                    self.n = 2
                else:
                    self.resync += 1
                    self.n = 1 if c == 0x42 else 0
                continue
            buf[n] = c
            n += 1
            if n == 4 and (buf[2] << 8 | buf[3]) != 28:
                self.resync += 1
                self.n = 0
                continue
            if n == _FRAME:
                self.n = 0
                if self._frame():
                    good += 1
                continue
            self.n = n
        return good

    def _frame(self):
        b = self.buf
        s = 0
        for i in range(30):
            s += b[i]
        if s & 0xFFFF != (b[30] << 8 | b[31]):
            self.bad_checksum += 1
            return False
        self.frames += 1
        # words: 0..2 = PM1/2.5/10 (CF=1), 3..5 = PM1/2.5/10 (atmospheric environment)
        self.pm1 = b[10] << 8 | b[11]
        self.pm25 = b[12] << 8 | b[13]
        self.pm10 = b[14] << 8 | b[15]
        self.win_n += 1
        self.win1 += self.pm1
        self.win25 += self.pm25
        self.win10 += self.pm10
        return True

    def take_window(self):
        """(frames, pm1, pm25, pm10) means since the last call, or None when no frame arrived."""
        n = self.win_n
        if not n:
            return None
        out = (n, (self.win1 + n // 2) // n, (self.win25 + n // 2) // n, (self.win10 + n // 2) // n)
        self.win_n = self.win1 = self.win25 = self.win10 = 0
        return out

    def counters(self):
        return (self.frames, self.bad_checksum, self.resync)
