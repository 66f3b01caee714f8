"""NMEA parser: real-looking u-blox captures, garbage and bad-checksum rows."""

import os

from drivers.nmea import NMEA
from harness import check, done


def cs(body):
    x = 0
    for c in body:
        x ^= ord(c)
    return "$" + body + "*" + "%02X" % x + "\r\n"


RMC = "$GPRMC,083559.00,A,4717.11437,N,00833.91522,E,0.004,77.52,091202,,,A*57\r\n"
GGA = "$GPGGA,092725.00,4717.11399,N,00833.91590,E,1,08,1.01,499.6,M,48.0,M,,*5B\r\n"
VTG = "$GPVTG,77.52,T,,M,0.004,N,0.008,K,A*06\r\n"
GSA = "$GPGSA,A,3,23,29,07,08,09,18,26,28,,,,,1.94,1.18,1.54*0D\r\n"
GLL = "$GPGLL,4717.11364,N,00833.91565,E,092321.00,A,A*60\r\n"
GSV = "$GPGSV,3,1,10,23,38,230,44,29,71,156,47,07,29,116,41,08,09,081,36*7F\r\n"

# (name, input, expected (clean, crc_fails, garbage, unsupported), expected state)
CASES = [
    ("rmc", RMC, (1, 0, 0, 0), {"fix": True, "lat_e6": 47285240, "lon_e6": 8565254, "speed_cms": 0}),
    ("gga", GGA, (1, 0, 0, 0), {"nsat": 8, "hdop10": 10, "quality": 1, "alt_dm": 4996}),
    ("vtg", VTG, (1, 0, 0, 0), {}),
    ("gsa", GSA, (1, 0, 0, 0), {"hdop10": 11, "fix_type": 3}),
    ("gll", GLL, (1, 0, 0, 0), {}),
    ("gsv", GSV, (1, 0, 0, 0), {"in_view": 10}),
    ("bad checksum", RMC.replace("*57", "*58"), (0, 1, 0, 0), {"fix": False}),
    ("bit flip", RMC.replace("4717", "4716"), (0, 1, 0, 0), {"fix": False}),
    ("partial line at power-up", RMC[20:] + GGA, (1, 0, 0, 0), {"nsat": 8}),
    ("cut by next sentence", RMC[:40] + GGA, (1, 0, 1, 0), {"nsat": 8}),
    ("binary garbage", "\x00\xff\xb5\x62\x01\x07" + GGA, (1, 0, 0, 0), {}),
    ("binary inside", GGA[:30] + "\x01" + GGA[31:] + GGA, (1, 0, 1, 0), {}),
    ("no checksum", "$GPRMC,083559.00,A,4717.11437,N\r\n", (0, 0, 1, 0), {}),
    ("bad hex", RMC.replace("*57", "*ZZ"), (0, 0, 1, 0), {}),
    ("overlong", "$GP" + "1" * 150 + "\r\n" + GGA, (1, 0, 1, 0), {}),
    ("unsupported sentence", cs("GPTXT,01,01,02,u-blox AG"), (0, 0, 0, 1), {}),
    (
        "unknown talker",
        cs("XXRMC,083559.00,A,4717.11437,N,00833.91522,E,0.004,77.52,091202,,,A"),
        (0, 0, 0, 1),
        {},
    ),
    (
        "GN talker",
        cs("GNRMC,120000.00,A,4343.12345,N,00725.12345,E,27.2,90.0,231126,,,A"),
        (1, 0, 0, 0),
        {"fix": True, "lat_e6": 43718724, "lon_e6": 7418724, "speed_cms": 1399},
    ),
    ("BD talker GSA", cs("BDGSA,A,3,01,02,,,,,,,,,,,2.0,1.3,1.5"), (1, 0, 0, 0), {"hdop10": 13}),
    (
        "south west",
        cs("GARMC,000001.00,A,3352.12000,S,15112.60000,W,0.0,,010124,,,A"),
        (1, 0, 0, 0),
        {"lat_e6": -33868667, "lon_e6": -151210000},
    ),
    ("void fix", cs("GPRMC,083559.00,V,,,,,,,091202,,,N"), (1, 0, 0, 0), {"fix": False}),
    (
        "bad minutes",
        cs("GPRMC,083559.00,A,4799.00000,N,00833.91522,E,0.0,,091202,,,A"),
        (0, 0, 1, 0),
        {"fix": False},
    ),
    ("bad time", cs("GPRMC,253559.00,A,4717.11437,N,00833.91522,E,0.0,,091202,,,A"), (0, 0, 1, 0), {}),
    (
        "letters in number",
        cs("GPGGA,092725.00,4717.1x399,N,00833.91590,E,1,08,1.01,499.6,M,48.0,M,,"),
        (1, 0, 0, 0),
        {},
    ),
    ("bad sats", cs("GPGGA,092725.00,,,,,1,0x,1.01,499.6,M,48.0,M,,"), (0, 0, 1, 0), {}),
    ("empty fields gga", cs("GPGGA,,,,,,0,,,,,,,,"), (1, 0, 0, 0), {"nsat": 0, "hdop10": None}),
    ("lowercase hex", RMC.replace("*57", "*57"), (1, 0, 0, 0), {}),
    ("only garbage", "\xff" * 300, (0, 0, 0, 0), {}),
    ("lf only", RMC.replace("\r\n", "\n"), (1, 0, 0, 0), {}),
]

for name, raw, counts, state in CASES:
    p = NMEA()
    data = bytes(ord(c) & 0xFF for c in raw)
    # feed in awkward pieces to exercise partial lines
    for i in range(0, len(data), 7):
        p.feed(data[i : i + 7])
    check(name + " counters", p.counters(), counts)
    for key in state:
        check(name + " " + key, getattr(p, key), state[key])

p = NMEA()
p.feed(b"$GNRMC,235959.00,A,4343.12345,N,00725.12345,E,1.0,,311224,,,A*")
p.feed(b"7B\r\n")
check("split checksum clean", p.clean + p.crc_fails, 1)
p = NMEA()
p.feed(cs("GNRMC,120000.50,A,4343.12345,N,00725.12345,E,1.0,,231126,,,A").encode())
# 2026-11-23 12:00:00 UTC = 1795435200 Unix = 848750400 since 2000
check("utc seconds", p.utc_s(), 1795435200 - 946684800)
check("utc ms", p.ms, 500)
check("epochs", p.epochs, 1)

# fuzz: random bytes, and real sentences with random bytes flipped, never raise
p = NMEA()
crashed = 0
for i in range(300):
    junk = bytearray(os.urandom(40))
    line = bytearray((RMC + GGA + GSA + VTG + GLL + GSV).encode())
    for _ in range(3):
        k = os.urandom(2)
        line[(k[0] << 8 | k[1]) % len(line)] = k[0] if i % 2 else 0x2C
    try:
        p.feed(junk)
        p.feed(line)
        p.feed(b"$" + junk)
    except Exception as e:
        crashed += 1
        print("crash", repr(e))
check("fuzz never raises", crashed, 0)
check("fuzz counted", p.clean + p.crc_fails + p.garbage + p.unsupported > 300, True)
done()
