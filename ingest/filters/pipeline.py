"""Run the filters for one record kind: which rows are kept, and why each other row was not.

keep, rejected = apply_filters("track", table, now=time.time())
# rejected: [(row, reason), ...] in row order; reason is the first filter that rejected the row
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ingest.filters import rules
from ingest.filters.rules import Mask, Table

Rule = Callable[[Table, float], Mask]

_TIME_RULES: list[tuple[str, Rule]] = [
    ("no_time", lambda t, now: rules.no_time(t)),
    ("before_2020", lambda t, now: rules.before_2020(t)),
    ("future", rules.in_future),
]
_POSITION_RULES: list[tuple[str, Rule]] = [
    ("bad_position", lambda t, now: rules.bad_position(t)),
]

RULES: dict[str, list[tuple[str, Rule]]] = {
    "track": [
        *_TIME_RULES,
        *_POSITION_RULES,
        ("impossible_jump", lambda t, now: rules.impossible_jump(t)),
        ("bad_speed", lambda t, now: rules.out_of_range(np.nan_to_num(t["speed"]), 0, rules.MAX_SPEED_MS)),
    ],
    "potholes": [*_TIME_RULES, *_POSITION_RULES],
    "air": [*_TIME_RULES, ("bad_pm", lambda t, now: rules.out_of_range(t["pm10"], 0, 2000))],
    "co2": [*_TIME_RULES, ("bad_co2", lambda t, now: rules.out_of_range(t["co2"], 250, 40000))],
    "coverage": list(_TIME_RULES),
    "health": list(_TIME_RULES),
}


def apply_filters(kind: str, table: Table, now: float) -> tuple[Mask, list[tuple[int, str]]]:
    """(keep mask, ``(row, reason)`` of every rejected row in row order: the first rule that
    rejected it). Rejections are rare, so they are listed rather than given a reason per row."""
    keep = np.ones(len(table), bool)
    rejected: list[tuple[int, str]] = []
    for name, rule in RULES[kind]:
        if not keep.any():
            break
        hit = rule(table, now) & keep
        rows = np.flatnonzero(hit)
        if len(rows):
            rejected += [(row, name) for row in rows.tolist()]
            keep[rows] = False
    rejected.sort()
    return keep, rejected
