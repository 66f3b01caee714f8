"""Cut one device's matched points (time-sorted) into passes: one traversal of one segment.

    >>> starts = pass_starts(t, segment_id, gap_s=120.0)
    >>> pass_of_point = np.cumsum(starts) - 1

A pass starts at the first point, wherever the segment changes, and after a pause longer than
``gap_s`` (the van came back later: an independent pass). Unmatched points (segment −1) belong to
no pass; they end the current one.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Float = npt.NDArray[np.float64]
Int = npt.NDArray[np.int64]
Bool = npt.NDArray[np.bool_]


def pass_starts(t: Float, segment_id: Int, gap_s: float) -> Bool:
    """Whether each point starts a pass (points with segment −1 never do)."""
    n = len(t)
    starts = np.zeros(n, dtype=np.bool_)
    if n == 0:
        return starts
    starts[0] = True
    starts[1:] = (segment_id[1:] != segment_id[:-1]) | (np.diff(t) > gap_s)
    starts &= segment_id >= 0
    return starts


def pass_index(t: Float, segment_id: Int, gap_s: float) -> Int:
    """Pass number of each point (0, 1, ...), −1 for unmatched points."""
    starts = pass_starts(t, segment_id, gap_s)
    idx: Int = np.cumsum(starts) - 1
    return np.where(segment_id >= 0, idx, -1)


def bounds(idx: Int) -> tuple[Int, Int]:
    """First and last point of every pass given ``pass_index`` (passes numbered densely)."""
    valid = np.flatnonzero(idx >= 0)
    k = int(idx[valid].max()) + 1 if len(valid) else 0
    first = np.full(k, -1, dtype=np.int64)
    last = np.full(k, -1, dtype=np.int64)
    # Points of a pass are contiguous in time order, so the first/last occurrences bound it.
    rev = valid[::-1]
    first[idx[rev]] = rev
    last[idx[valid]] = valid
    return first, last


def assign_to_passes(t_reading: Float, t_point: Float, idx: Int, max_dt: float = 2.0) -> Int:
    """Pass of each reading: the pass of the nearest matched point in time, −1 if none within
    ``max_dt`` seconds (the van was not on a matched segment when it took the reading)."""
    if len(t_point) == 0:
        return np.full(len(t_reading), -1, dtype=np.int64)
    j = np.clip(np.searchsorted(t_point, t_reading), 1, max(len(t_point) - 1, 1))
    j0 = np.maximum(j - 1, 0)
    j1 = np.minimum(j, len(t_point) - 1)
    nearer = np.where(np.abs(t_point[j1] - t_reading) < np.abs(t_point[j0] - t_reading), j1, j0)
    ok = np.abs(t_point[nearer] - t_reading) <= max_dt
    out: Int = np.where(ok, idx[nearer], -1)
    return out


def nearest_point(t_reading: Float, t_point: Float, max_dt: float = 2.0) -> Int:
    """Index of the nearest point in time, −1 if none within ``max_dt`` seconds."""
    if len(t_point) == 0:
        return np.full(len(t_reading), -1, dtype=np.int64)
    j = np.clip(np.searchsorted(t_point, t_reading), 1, max(len(t_point) - 1, 1))
    j0 = np.maximum(j - 1, 0)
    j1 = np.minimum(j, len(t_point) - 1)
    nearer = np.where(np.abs(t_point[j1] - t_reading) < np.abs(t_point[j0] - t_reading), j1, j0)
    out: Int = np.where(np.abs(t_point[nearer] - t_reading) <= max_dt, nearer, -1)
    return out


def group_mean(values: Float, group: Int, k: int) -> tuple[Float, Int]:
    """Mean of the finite ``values`` per group 0..k-1 (NaN for an empty group) and the counts.
    Rows with group −1 are ignored."""
    ok = (group >= 0) & np.isfinite(values)
    sums = np.bincount(group[ok], weights=values[ok], minlength=k)[:k]
    counts = np.bincount(group[ok], minlength=k)[:k].astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean: Float = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    return mean, counts


def group_median(values: Float, group: Int, k: int) -> Float:
    """Median of the finite ``values`` per group 0..k-1 (NaN for an empty group)."""
    out = np.full(k, np.nan)
    ok = (group >= 0) & np.isfinite(values)
    g, v = group[ok], values[ok]
    order = np.lexsort((v, g))
    g, v = g[order], v[order]
    lo = np.searchsorted(g, np.arange(k), side="left")
    hi = np.searchsorted(g, np.arange(k), side="right")
    n = hi - lo
    has = n > 0
    a = v[np.minimum(lo + (n - 1) // 2, max(len(v) - 1, 0))] if len(v) else np.zeros(k)
    b = v[np.minimum(lo + n // 2, max(len(v) - 1, 0))] if len(v) else np.zeros(k)
    out[has] = 0.5 * (a[has] + b[has])
    return out
