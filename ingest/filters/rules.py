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
    utc, lat, lon, boot = table["utc"], table["lat"], table["lon"], table["boot_id"]
    ok = table["fix"] & np.isfinite(utc) & np.isfinite(lat) & np.isfinite(lon)
    rows: npt.NDArray[np.intp] | slice
    if ok.all():  # the usual case: every row a dated fix, read in place rather than gathered
        rows, b, u, la, lo = slice(None), boot, utc, lat, lon
    else:
        rows = np.nonzero(ok)[0]
        b, u, la, lo = boot[rows], utc[rows], lat[rows], lon[rows]
    if len(u) < 3:
        return out
    # Rows usually arrive in (boot, time) order already; then the stable sort is the identity.
    if not np.all((b[1:] > b[:-1]) | ((b[1:] == b[:-1]) & (u[1:] >= u[:-1]))):
        order = np.lexsort((u, b))
        rows = np.arange(len(table))[rows][order]
        b, u, la, lo = b[order], u[order], la[order], lo[order]
    limit = MAX_SPEED_MS * np.maximum(u[1:] - u[:-1], 1.0)
    # Between points on Earth the great-circle distance is at most R * (|dlat| + |dlon|) (along a
    # meridian, then at most the equator's length of arc): only legs whose bound exceeds the limit,
    # or that touch coordinates off the planet, need the haversine.
    bound = np.radians(np.abs(la[1:] - la[:-1]) + np.abs(lo[1:] - lo[:-1])) * EARTH_RADIUS_M
    on_earth = (np.abs(la) <= 90) & (np.abs(lo) <= 180)
    maybe = (bound * (1 + 1e-9) > limit) | ~(on_earth[1:] & on_earth[:-1])
    legs = np.nonzero((b[1:] == b[:-1]) & maybe)[0]
    bad_leg = np.zeros(len(u) - 1, bool)
    if len(legs):
        dist = _distance_m(la[legs], lo[legs], la[legs + 1], lo[legs + 1])
        bad_leg[legs] = dist > limit[legs]
    spike = np.zeros(len(u), bool)
    spike[1:-1] = bad_leg[:-1] & bad_leg[1:]
    if isinstance(rows, slice):
        out[spike] = True
    else:
        out[rows[spike]] = True
    return out


def out_of_range(values: Table, low: float, high: float) -> Mask:
    return np.asarray((values < low) | (values > high), dtype=bool)
