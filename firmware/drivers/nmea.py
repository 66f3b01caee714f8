"""NMEA 0183 parser for a u-blox-like GNSS receiver (RMC, GGA, GSA, VTG, GLL, GSV; GP/GN/GL/GA/BD/GB).

Feed it bytes as they arrive (any chunking; partial lines at power-up are fine). Lines are assembled
in a fixed buffer, checked (start `$`, printable, length, `*hh` checksum), then parsed by indexing
comma offsets in that buffer: no per-field allocation. Bad input is counted and skipped, never raised.

    gps = NMEA()
    gps.feed(uart_bytes)          # returns the number of complete RMC epochs seen
    if gps.fix: gps.lat_e6, gps.lon_e6, gps.speed_cms, gps.utc_s(), gps.hdop10
"""

from array import array

from micropython import const

_MAXLINE = const(100)
_MAXFIELDS = const(24)
_DOLLAR = const(0x24)
_STAR = const(0x2A)
_COMMA = const(0x2C)
_CR = const(0x0D)
_LF = const(0x0A)

# Days before each month (non-leap), for UTC -> seconds since 2000-01-01.
_MDAYS = (0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334)


def _hex(c):
    if 0x30 <= c <= 0x39:
        return c - 0x30
    if 0x41 <= c <= 0x46:
        return c - 0x37
    if 0x61 <= c <= 0x66:
        return c - 0x57
    return -1


class NMEA:
    def __init__(self):
        self.line = bytearray(_MAXLINE)
        self.n = 0
        self.dropping = True  # until the first '$': a partial line at power-up is not a sentence
        self.comma = array("H", [0] * _MAXFIELDS)
        self.nf = 0
        # health counters
        self.clean = 0
        self.crc_fails = 0
        self.garbage = 0
        self.unsupported = 0
        self.overflows = 0
        # state
        self.fix = False
        self.lat_e6 = None
        self.lon_e6 = None
        self.speed_cms = None
        self.course_cdeg = None
        self.hdop10 = None
        self.nsat = 0
        self.quality = 0
        self.alt_dm = None
        self.in_view = 0
        self.fix_type = 1
        self.hh = self.mi = self.ss = self.ms = -1
        self.dd = self.mo = self.yy = -1
        self.epochs = 0

    # --- byte intake ----------------------------------------------------------------------

    def feed(self, data):
        """Consume bytes; returns the number of RMC epochs completed."""
        before = self.epochs
        line = self.line
        for c in data:
            if c == _DOLLAR:
                if self.n and not self.dropping:
                    self.garbage += 1  # a sentence cut short by the next one
                self.dropping = False
                line[0] = c
                self.n = 1
            elif self.dropping:
                continue
            elif c == _LF or c == _CR:
                if self.n > 1:
                    self._line(self.n)
                self.n = 0
                self.dropping = True
            elif self.n >= _MAXLINE:
                self.overflows += 1
                self.garbage += 1
                self.n = 0
                self.dropping = True
            elif c < 0x20 or c > 0x7E:
                self.garbage += 1
                self.n = 0
                self.dropping = True
            else:
                line[self.n] = c
                self.n += 1
        return self.epochs - before

    def _line(self, n):
        line = self.line
        # checksum: '*hh' at the end
        if n < 10 or line[n - 3] != _STAR:
            self.garbage += 1
            return
        h1 = _hex(line[n - 2])
        h2 = _hex(line[n - 1])
        if h1 < 0 or h2 < 0:
            self.garbage += 1
            return
        x = 0
        nf = 0
        comma = self.comma
        for i in range(1, n - 3):
            c = line[i]
            x ^= c
            if c == _COMMA:
                if nf < _MAXFIELDS - 1:
                    comma[nf] = i
                    nf += 1
        if x != (h1 << 4 | h2):
            self.crc_fails += 1
            return
        comma[nf] = n - 3  # end of the last field
        self.nf = nf
        if line[6] != _COMMA or nf == 0:
            self.garbage += 1
            return
        t0 = line[1]
        t1 = line[2]
        # GP GN GL GA GB, BD
        if not (
            (t0 == 0x47 and (t1 == 0x50 or t1 == 0x4E or t1 == 0x4C or t1 == 0x41 or t1 == 0x42))
            or (t0 == 0x42 and t1 == 0x44)
        ):
            self.unsupported += 1
            return
        a = line[3]
        b = line[4]
        c = line[5]
        if a == 0x52 and b == 0x4D and c == 0x43:  # RMC
            ok = self._rmc()
        elif a == 0x47 and b == 0x47 and c == 0x41:  # GGA
            ok = self._gga()
        elif a == 0x47 and b == 0x53 and c == 0x41:  # GSA
            ok = self._gsa()
        elif a == 0x56 and b == 0x54 and c == 0x47:  # VTG
            ok = self._vtg()
        elif a == 0x47 and b == 0x4C and c == 0x4C:  # GLL
            ok = self._gll()
        elif a == 0x47 and b == 0x53 and c == 0x56:  # GSV
            ok = self._gsv()
        else:
            self.unsupported += 1
            return
        if ok:
            self.clean += 1
        else:
            self.garbage += 1

    # --- field access (field k is between comma[k-1] and comma[k]; field 0 is the address) ---

    def _span(self, k):
        if k < 1 or k > self.nf:
            return 0, 0
        return self.comma[k - 1] + 1, self.comma[k]

    def _num(self, k, decimals):
        """Field k as an int scaled by 10**decimals; None when empty; -1 - garbage flag via ValueError."""
        s, e = self._span(k)
        if s >= e:
            return None
        line = self.line
        v = 0
        neg = False
        frac = -1
        i = s
        if line[i] == 0x2D:
            neg = True
            i += 1
        while i < e:
            c = line[i]
            if c == 0x2E:
                if frac >= 0:
                    raise ValueError
                frac = 0
            elif 0x30 <= c <= 0x39:
                if frac < 0:
                    v = v * 10 + c - 0x30
                elif frac < decimals:
                    v = v * 10 + c - 0x30
                    frac += 1
            else:
                raise ValueError
            i += 1
        if frac < 0:
            frac = 0
        while frac < decimals:
            v *= 10
            frac += 1
        return -v if neg else v

    def _char(self, k):
        s, e = self._span(k)
        return self.line[s] if s < e else 0

    def _latlon(self, k):
        """ddmm.mmmmm,H at fields k, k+1 -> 1e-6 degree (None when empty)."""
        v = self._num(k, 5)
        h = self._char(k + 1)
        if v is None or h == 0:
            return None
        deg = v // 10000000
        min_e5 = v - deg * 10000000
        if min_e5 >= 6000000:
            raise ValueError
        e6 = deg * 1000000 + (min_e5 + 3) // 6
        if h == 0x53 or h == 0x57:  # S, W
            e6 = -e6
        elif h != 0x4E and h != 0x45:
            raise ValueError
        return e6

    def _time(self, k):
        v = self._num(k, 3)
        if v is None:
            return False
        hh = v // 10000000
        mi = v // 100000 % 100
        ss = v // 1000 % 100
        if hh > 23 or mi > 59 or ss > 60:
            raise ValueError
        self.hh = hh
        self.mi = mi
        self.ss = ss
        self.ms = v % 1000
        return True

    # --- sentences --------------------------------------------------------------------------

    def _rmc(self):
        # $xxRMC,time,status,lat,N,lon,E,sog(kn),cog,date,magvar,E,mode*hh
        try:
            self._time(1)
            status = self._char(2)
            lat = self._latlon(3)
            lon = self._latlon(5)
            sog = self._num(7, 2)  # knots * 100
            cog = self._num(8, 2)
            d = self._num(9, 0)
        except ValueError:
            return False
        if d is not None:
            dd = d // 10000
            mo = d // 100 % 100
            if not 1 <= dd <= 31 or not 1 <= mo <= 12:
                return False
            self.dd = dd
            self.mo = mo
            self.yy = d % 100
        self.fix = False
        if status == 0x41 and lat is not None and lon is not None:
            if lat < -90000000 or lat > 90000000 or lon < -180000000 or lon > 180000000:
                return False
            self.fix = True
            self.lat_e6 = lat
            self.lon_e6 = lon
            # 1 kn = 0.514444 m/s -> cm/s = kn*100 * 0.514444
            self.speed_cms = None if sog is None else (sog * 514444 + 500000) // 1000000
            self.course_cdeg = cog
        self.epochs += 1
        return True

    def _gga(self):
        # $xxGGA,time,lat,N,lon,E,quality,nsat,hdop,alt,M,sep,M,age,station*hh
        try:
            q = self._num(6, 0)
            ns = self._num(7, 0)
            hd = self._num(8, 1)
            alt = self._num(9, 1)
        except ValueError:
            return False
        self.quality = q or 0
        self.nsat = ns or 0
        self.hdop10 = hd
        self.alt_dm = alt
        return True

    def _gsa(self):
        # $xxGSA,mode,fixtype,sv x12,pdop,hdop,vdop[,system]*hh
        try:
            ft = self._num(2, 0)
            hd = self._num(16, 1)
        except ValueError:
            return False
        if ft is not None:
            self.fix_type = ft
        if hd is not None:
            self.hdop10 = hd
        return True

    def _vtg(self):
        # $xxVTG,cogt,T,cogm,M,sog,N,sogk,K,mode*hh
        try:
            kmh = self._num(7, 2)
        except ValueError:
            return False
        if kmh is not None and self.fix:
            self.speed_cms = (kmh * 1000 + 1800) // 3600
        return True

    def _gll(self):
        # $xxGLL,lat,N,lon,E,time,status,mode*hh
        try:
            lat = self._latlon(1)
            lon = self._latlon(3)
            st = self._char(6)
        except ValueError:
            return False
        if st == 0x41 and lat is not None and lon is not None and self.fix:
            self.lat_e6 = lat
            self.lon_e6 = lon
        return True

    def _gsv(self):
        # $xxGSV,nmsg,msgno,nsv,(prn,elev,az,snr)x<=4*hh
        try:
            nsv = self._num(3, 0)
        except ValueError:
            return False
        if nsv is not None:
            self.in_view = nsv
        return True

    # --- derived ------------------------------------------------------------------------------

    def utc_s(self):
        """Seconds since 2000-01-01T00:00:00Z of the last RMC time+date; None until both are known."""
        if self.yy < 0 or self.hh < 0:
            return None
        y = self.yy
        days = y * 365 + (y + 3) // 4 + _MDAYS[self.mo - 1] + self.dd - 1
        if self.mo > 2 and y % 4 == 0:
            days += 1
        return ((days * 24 + self.hh) * 60 + self.mi) * 60 + self.ss

    def counters(self):
        return (self.clean, self.crc_fails, self.garbage, self.unsupported)
