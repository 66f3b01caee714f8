"""LTE modem on a UART, used only to measure coverage: AT+CESQ, AT+QCSQ, AT+COPS?.

Non-blocking: `poll(now)` sends the next command when idle and parses reply lines as they arrive.
Unknown values (27.007: 255 / 99) are kept raw and mapped to None in the decoded view.

    m = Modem(uart)
    m.poll(now_ms)                  # call often; never blocks
    m.rat, m.rsrp, m.rsrq, m.sinr, m.plmn   # raw values of the last complete cycle
"""

from micropython import const

_MAXLINE = const(96)
_TIMEOUT_MS = const(2000)
_CMDS = (b"AT+CESQ\r", b"AT+QCSQ\r", b"AT+COPS?\r")
_ACT_LTE = const(7)


def _ints(line, start, out):
    """Parse comma-separated ints from line[start:]; quoted or empty fields -> -1. Returns count."""
    n = 0
    v = 0
    have = False
    neg = False
    quoted = False
    i = start
    end = len(line)
    while i <= end and n < len(out):
        c = line[i] if i < end else 0x2C
        if quoted:
            if c == 0x22:
                quoted = False
        elif c == 0x22:
            quoted = True
            have = False
            v = -1
        elif c == 0x2C:
            out[n] = (-v if neg else v) if have else -1
            n += 1
            v = 0
            have = False
            neg = False
        elif c == 0x2D:
            neg = True
        elif 0x30 <= c <= 0x39:
            v = v * 10 + c - 0x30
            have = True
        i += 1
    return n


class Modem:
    def __init__(self, uart):
        self.uart = uart
        self.line = bytearray(_MAXLINE)
        self.n = 0
        self.step = -1  # index in _CMDS of the command in flight, -1 idle
        self.sent = 0
        self.f = [0] * 8
        # raw values of the current cycle
        self.rsrp = self.rsrq = 255
        self.sinr = -32768
        self.rat = 255
        self.plmn = 0
        self.operator = None
        self.cycle_done = False
        # counters
        self.replies = 0
        self.errors = 0
        self.timeouts = 0
        self.garbage = 0

    def start_cycle(self, now):
        """Begin a CESQ/QCSQ/COPS? cycle (ignored when one is running)."""
        if self.step < 0:
            self.rsrp = self.rsrq = 255
            self.sinr = -32768
            self.rat = 255
            self.plmn = 0
            self.cycle_done = False
            self._send(0, now)

    def _send(self, step, now):
        self.step = step
        self.sent = now
        self.uart.write(_CMDS[step])

    def poll(self, now):
        data = self.uart.read()
        if data:
            self._feed(data, now)
        if self.step >= 0 and ((now - self.sent) & 0x3FFFFFFF) > _TIMEOUT_MS:
            self.timeouts += 1
            self._next(now)

    def _feed(self, data, now):
        line = self.line
        for c in data:
            if c == 0x0A or c == 0x0D:
                if self.n:
                    self._line(memoryview(line)[: self.n], now)
                self.n = 0
            elif self.n < _MAXLINE:
                line[self.n] = c
                self.n += 1
            else:
                self.garbage += 1
                self.n = 0

    def _next(self, now):
        if self.step >= 0 and self.step + 1 < len(_CMDS):
            self._send(self.step + 1, now)
        else:
            self.step = -1
            self.cycle_done = True

    def _line(self, line, now):
        b = bytes(line)
        f = self.f
        if b == b"OK":
            self.replies += 1
            self._next(now)
        elif b == b"ERROR" or b[:11] == b"+CME ERROR:":
            self.errors += 1
            self._next(now)
        elif b[:7] == b"+CESQ: ":
            # +CESQ: rxlev,ber,rscp,ecno,rsrq,rsrp
            if _ints(b, 7, f) >= 6:
                self.rsrq = f[4] if 0 <= f[4] <= 34 else 255
                self.rsrp = f[5] if 0 <= f[5] <= 97 else 255
            else:
                self.garbage += 1
        elif b[:7] == b"+QCSQ: ":
            # +QCSQ: "LTE",rssi,rsrp,sinr,rsrq   (or "NOSERVICE")
            if b[8:11] == b"LTE" and _ints(b, 7, f) >= 5:
                self.sinr = f[3]
            elif b[8:17] != b"NOSERVICE":
                self.garbage += 0  # other RATs carry no SINR
        elif b[:7] == b"+COPS: ":
            # +COPS: mode[,format,"oper"[,AcT]]
            n = _ints(b, 7, f)
            q1 = b.find(b'"')
            q2 = b.find(b'"', q1 + 1) if q1 >= 0 else -1
            if q1 >= 0 and q2 > q1:
                oper = b[q1 + 1 : q2]
                self.operator = oper
                if n >= 3 and f[1] == 2 and oper.isdigit() and 5 <= len(oper) <= 6:
                    self.plmn = int(oper)
                self.rat = f[3] if n >= 4 and 0 <= f[3] < 255 else 255
            else:
                self.operator = None
        # echo lines ("AT+...") and anything else are ignored

    def counters(self):
        return (self.replies, self.errors, self.timeouts)
