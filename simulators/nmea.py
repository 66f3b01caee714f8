"""NMEA 0183 sentence formatting: fields → ``$TTSSS,...*CS\\r\\n`` bytes, and deliberate damage.

Kept separate from the receiver model so the formats (one function per sentence type, fields in
the order of the standard) can be read and checked against pynmea2 on their own.
"""

from __future__ import annotations

import numpy as np


def checksum(body: str) -> int:
    cs = 0
    for ch in body.encode("ascii"):
        cs ^= ch
    return cs


def sentence(talker: str, kind: str, fields: list[str]) -> str:
    body = talker + kind + "," + ",".join(fields)
    return f"${body}*{checksum(body):02X}\r\n"


def fmt_lat(lat: float) -> tuple[str, str]:
    hemi = "N" if lat >= 0 else "S"
    a = abs(lat)
    deg = int(a)
    minutes = (a - deg) * 60.0
    if round(minutes, 5) >= 60.0:
        deg, minutes = deg + 1, 0.0
    return f"{deg:02d}{minutes:08.5f}", hemi


def fmt_lon(lon: float) -> tuple[str, str]:
    hemi = "E" if lon >= 0 else "W"
    a = abs(lon)
    deg = int(a)
    minutes = (a - deg) * 60.0
    if round(minutes, 5) >= 60.0:
        deg, minutes = deg + 1, 0.0
    return f"{deg:03d}{minutes:08.5f}", hemi


def corrupt(line: str, rng: np.random.Generator) -> tuple[str, str]:
    """Damage one sentence so its checksum no longer verifies; returns (line, kind of damage)."""
    star = line.rfind("*")
    kind = str(rng.choice(["byte", "checksum", "truncated"]))
    if kind == "checksum":
        good = int(line[star + 1 : star + 3], 16)
        bad = (good + int(rng.integers(1, 256))) % 256
        return f"{line[: star + 1]}{bad:02X}\r\n", kind
    if kind == "truncated":
        cut = int(rng.integers(7, star))
        return line[:cut] + "\r\n", kind
    # One byte of the body replaced by a different printable one: the XOR checksum must change.
    pos = int(rng.integers(1, star))
    old = line[pos]
    choices = [c for c in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ.,-" if c != old]
    new = choices[int(rng.integers(0, len(choices)))]
    return line[:pos] + new + line[pos + 1 :], kind
