"""Pothole events snapped onto a segment, clustered along it, confirmed by independent passes.

    >>> clusters = cluster_events(offset, pass_key, severity, radius_m=10.0, min_passes=2)

One van hitting the same hole twice in one pass (front and rear wheel, or a bounce) is one
observation; a hole is confirmed when at least ``min_passes`` different passes saw it, which is
what keeps one-off jolts (a kerb, a bump taken too fast) off the map.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ingest.indicators.passes import Bool, Float, Int


@dataclass(frozen=True)
class Clusters:
    """Clusters along one segment (c clusters)."""

    offset: Float  # (c,) median offset of the events, metres
    events: Int  # (c,) events in the cluster
    passes: Int  # (c,) distinct passes that saw it
    severity: Int  # (c,) largest severity seen
    member: Int  # (n,) cluster of each input event
    peak: Float  # (c,) median peak of the events, g (NaN when unknown)


def cluster_events(
    offset: Float,
    pass_key: Int,
    severity: Int,
    radius_m: float,
    min_passes: int = 2,
    *,
    segment_passes: int = 0,
    min_share: float = 0.0,
    peak: Float | None = None,
    min_peak: float = 0.0,
) -> tuple[Clusters, Bool]:
    """Single-linkage clusters of events along a segment: sorted by offset, a gap larger than
    ``radius_m`` starts a new cluster. Returns the clusters and a (c,) confirmed mask: seen by at
    least ``min_passes`` passes and by at least ``min_share`` of the ``segment_passes`` passes
    that drove the segment, and with a median event ``peak`` of at least ``min_peak`` (g): a
    rough surface gives peaks just over the firmware's threshold on every pass, a hole more."""
    n = len(offset)
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        c = Clusters(np.zeros(0), empty, empty, empty, empty, np.zeros(0))
        return c, np.zeros(0, dtype=np.bool_)
    order = np.argsort(offset, kind="stable")
    o = offset[order]
    new = np.ones(n, dtype=np.bool_)
    new[1:] = np.diff(o) > radius_m
    cid_sorted = np.cumsum(new) - 1
    member = np.empty(n, dtype=np.int64)
    member[order] = cid_sorted
    k = int(cid_sorted[-1]) + 1
    events = np.bincount(member, minlength=k).astype(np.int64)
    pairs = np.unique(np.column_stack([member, pass_key]), axis=0)
    passes = np.bincount(pairs[:, 0], minlength=k).astype(np.int64)
    sev = np.zeros(k, dtype=np.int64)
    np.maximum.at(sev, member, severity.astype(np.int64))
    med = np.array([np.median(offset[member == i]) for i in range(k)], dtype=np.float64)
    peaks = np.full(k, np.nan)
    if peak is not None:
        for i in range(k):
            p = peak[member == i]
            if np.isfinite(p).any():
                peaks[i] = float(np.nanmedian(p))
    clusters = Clusters(offset=med, events=events, passes=passes, severity=sev, member=member, peak=peaks)
    strong = ~(peaks < min_peak)  # unknown peaks do not veto
    return clusters, (passes >= min_passes) & (passes >= min_share * segment_passes) & strong
