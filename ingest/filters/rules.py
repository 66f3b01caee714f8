"""The individual filters. Each takes a structured array of one record kind and returns a bool mask
of the rows it rejects. Bounds follow Traccar's universal sanity checks where they apply.

    >>> import numpy as np
    >>> t = np.zeros(2, [("utc", "f8")]); t["utc"] = [1.7e9, 1.0e9]
    >>> before_2020(t).tolist()
    [False, True]
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

Mask = npt.NDArray[np.bool_]
Table = npt.NDArray[Any]

#: 2020-01-01T00:00:00Z: nothing facteur measured can be older.
EARLIEST_UTC = 1_577_836_800.0
#: How far in the future a reading may be dated (clock skew, time zones gone wrong).
FUTURE_SLACK_S = 25 * 3600.0
#: Faster than this between consecutive fixes is a jump no van makes (Traccar: 869 km/h).
MAX_SPEED_MS = 869 / 3.6
EARTH_RADIUS_M = 6_371_008.8


def no_time(table: Table) -> Mask:
    """No UTC: no time anchor for the reading's boot has arrived yet."""
    return np.asarray(~np.isfinite(table["utc"]), dtype=bool)


def before_2020(table: Table) -> Mask:
    return np.asarray(np.isfinite(table["utc"]) & (table["utc"] < EARLIEST_UTC), dtype=bool)


def in_future(table: Table, now: float) -> Mask:
    return np.asarray(np.isfinite(table["utc"]) & (table["utc"] > now + FUTURE_SLACK_S), dtype=bool)


def bad_position(table: Table) -> Mask:
    """A fix whose coordinates are not on Earth (or are exactly 0, 0: a receiver's placeholder)."""
    lat, lon = table["lat"], table["lon"]
    fix = table["fix"]
    off = ~((np.abs(lat) <= 90) & (np.abs(lon) <= 180)) | ((lat == 0) & (lon == 0))
    return np.asarray(fix & off, dtype=bool)


def _distance_m(lat1: Table, lon1: Table, lat2: Table, lon2: Table) -> npt.NDArray[np.float64]:
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(lon2 - lon1)
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return np.asarray(2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0, 1))), dtype=np.float64)


def impossible_jump(table: Table) -> Mask:
    """Isolated fixes that are further from both neighbours than ``MAX_SPEED_MS`` allows.

    Neighbours are the previous and next fixes of the same boot in time order; a fix is only
    rejected when both legs are impossible, so a real gap (tunnel) followed by a far fix is kept.
    """
    out = np.zeros(len(table), bool)
    ok = table["fix"] & np.isfinite(table["utc"]) & np.isfinite(table["lat"]) & np.isfinite(table["lon"])
    rows = np.nonzero(ok)[0]
    if len(rows) < 3:
        return out
    order = rows[np.lexsort((table["utc"][rows], table["boot_id"][rows]))]
    t = table[order]
    same_boot = t["boot_id"][1:] == t["boot_id"][:-1]
    dist = _distance_m(t["lat"][:-1], t["lon"][:-1], t["lat"][1:], t["lon"][1:])
    dt = np.maximum(t["utc"][1:] - t["utc"][:-1], 1.0)
    bad_leg = same_boot & (dist > MAX_SPEED_MS * dt)
    spike = np.zeros(len(t), bool)
    spike[1:-1] = bad_leg[:-1] & bad_leg[1:]
    out[order[spike]] = True
    return out


def out_of_range(values: Table, low: float, high: float) -> Mask:
    return np.asarray((values < low) | (values > high), dtype=bool)
