"""The indicator job: matched points → passes → per-segment, per-period indicators (SQL side).

    >>> with psycopg.connect(url) as conn:
    ...     report = recompute(conn)          # doctest: +SKIP

Run after each sync (the ingest service runs it in the background, ``facteur indicators``
on demand). For every device whose matched track advanced since the last run
(``matching_state.matched_until`` past ``indicator_state.passes_until``), the device's days from
the last processed day on are re-cut into passes, in time order, together with the air, CO2,
coverage and pothole readings of the same time span (``segment_passes``, ``pothole_events``; the
old rows of the span are replaced, so a rerun is idempotent). Then every (segment, period) that
those days touch is recomputed whole from its passes (``segment_indicators``,
``pothole_clusters``). Cost is linear in the new data plus the passes of the touched periods.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import psycopg

from ingest.indicators import air, coverage, potholes, roughness
from ingest.indicators.params import IndicatorParams
from ingest.indicators.passes import (
    Float,
    Int,
    assign_to_passes,
    bounds,
    group_mean,
    nearest_point,
    pass_index,
)

PERIODS = ("day", "week", "month")

Conn = psycopg.Connection[Any]


@dataclass
class JobReport:
    devices: int = 0
    passes: int = 0
    pothole_events: int = 0
    indicator_rows: int = 0
    periods: dict[str, int] = field(default_factory=dict)


def period_start(day: date, period: str) -> date:
    if period == "day":
        return day
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    raise ValueError(f"unknown period {period!r}")


def period_end(start: date, period: str) -> date:
    if period == "day":
        return start + timedelta(days=1)
    if period == "week":
        return start + timedelta(days=7)
    if start.month == 12:
        return start.replace(year=start.year + 1, month=1)
    return start.replace(month=start.month + 1)


def _ids(rows: list[tuple[Any, ...]], col: int = 0) -> Int:
    """A bigint column as int64 (segment ids use 63 bits: a float64 column would round them);
    NULL → −1."""
    return np.array([-1 if r[col] is None else r[col] for r in rows], dtype=np.int64)


def _cols(rows: list[tuple[Any, ...]], n: int) -> list[Float]:
    if not rows:
        return [np.zeros(0) for _ in range(n)]
    arr = np.array(rows, dtype=np.float64)  # None → nan
    return [arr[:, i] for i in range(n)]


def _f(v: float) -> float | None:
    return None if not np.isfinite(v) else float(v)


def _devices_to_process(conn: Conn) -> list[tuple[str, datetime, datetime]]:
    rows = conn.execute(
        """
        SELECT m.device_id, date_trunc('day', coalesce(s.passes_until, 'epoch'::timestamptz), 'UTC'),
               m.matched_until
        FROM matching_state m LEFT JOIN indicator_state s USING (device_id)
        WHERE s.passes_until IS NULL OR m.matched_until > s.passes_until
        ORDER BY m.device_id
        """
    ).fetchall()
    return [(r[0], r[1], r[2]) for r in rows]


def rebuild_passes(
    conn: Conn, device_id: str, t0: datetime, t1: datetime, params: IndicatorParams
) -> tuple[int, int, set[tuple[int, date]]]:
    """Re-cut one device's passes in [t0, t1]; returns (passes, pothole events, touched
    (segment, day) pairs)."""
    span = (device_id, t0, t1)
    pts = conn.execute(
        """
        SELECT extract(epoch FROM time), coalesce(segment_id, -1), "offset", speed, norm,
               (matched AND confidence >= %s)::int
        FROM matched_points WHERE device_id = %s AND time >= %s AND time <= %s ORDER BY time
        """,
        (params.min_confidence, *span),
    ).fetchall()
    t, _, offset, speed, norm, ok = _cols([(r[0], 0, *r[2:]) for r in pts], 6)
    seg: Int = np.where(ok > 0, _ids(pts, 1), -1)
    idx = pass_index(t, seg, params.pass_gap_s)
    first, last = bounds(idx)
    k = len(first)
    iri, rough_n = roughness.pass_iri(norm, speed, idx, k, params, t=t)

    def readings(sql: str, n: int) -> list[Float]:
        return _cols(conn.execute(sql, span).fetchall(), n)

    ta, pm25, pm10 = readings(
        "SELECT extract(epoch FROM time), pm25, pm10 FROM air "
        "WHERE device_id = %s AND time >= %s AND time <= %s ORDER BY time",
        3,
    )
    air_idx = assign_to_passes(ta, t, idx)
    tc, co2, temp = readings(
        "SELECT extract(epoch FROM time), co2, temperature FROM co2 "
        "WHERE device_id = %s AND time >= %s AND time <= %s ORDER BY time",
        3,
    )
    co2_idx = assign_to_passes(tc, t, idx)
    tv, rsrp, rsrq, sinr = readings(
        "SELECT extract(epoch FROM time), rsrp, rsrq, sinr FROM coverage "
        "WHERE device_id = %s AND time >= %s AND time <= %s ORDER BY time",
        4,
    )
    cov_idx = assign_to_passes(tv, t, idx)
    cov = coverage.pass_coverage(rsrp, rsrq, sinr, idx=cov_idx, k=k, params=params)
    means = {
        "pm25": group_mean(pm25, air_idx, k)[0],
        "pm10": group_mean(pm10, air_idx, k)[0],
        "co2": group_mean(co2, co2_idx, k)[0],
        "temperature": group_mean(temp, co2_idx, k)[0],
    }
    conn.execute(
        "DELETE FROM segment_passes WHERE device_id = %s AND start_time >= %s AND start_time <= %s", span
    )
    conn.execute("DELETE FROM pothole_events WHERE device_id = %s AND time >= %s AND time <= %s", span)
    touched: set[tuple[int, date]] = set()
    if k:
        pass_seg = seg[first]
        rows = []
        for i in range(k):
            start = datetime.fromtimestamp(float(t[first[i]]), UTC)
            end = datetime.fromtimestamp(float(t[last[i]]), UTC)
            touched.add((int(pass_seg[i]), start.date()))
            rows.append(
                (
                    start,
                    end,
                    device_id,
                    int(pass_seg[i]),
                    int(last[i] - first[i] + 1),
                    int(rough_n[i]),
                    _f(iri[i]),
                    _f(means["pm25"][i]),
                    _f(means["pm10"][i]),
                    _f(means["co2"][i]),
                    _f(means["temperature"][i]),
                    int(cov["n"][i]),
                    _f(cov["rsrp"][i]),
                    _f(cov["rsrq"][i]),
                    _f(cov["sinr"][i]),
                    int(cov["unusable"][i]),
                    int(cov["no_service"][i]),
                )
            )
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO segment_passes (start_time, end_time, device_id, segment_id, n_points, n_rough,"
                " iri, pm25, pm10, co2, temperature, n_coverage, rsrp, rsrq, sinr, n_unusable, n_no_service)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                rows,
            )
    ph = conn.execute(
        "SELECT extract(epoch FROM time), severity, lat, lon, peak FROM potholes "
        "WHERE device_id = %s AND time >= %s AND time <= %s ORDER BY time",
        span,
    ).fetchall()
    tp, sev, plat, plon, ppeak = _cols(ph, 5)
    near = nearest_point(tp, t)
    hit = near >= 0
    hit[hit] = seg[near[hit]] >= 0
    events = []
    for j in np.flatnonzero(hit):
        p = int(near[j])
        when = datetime.fromtimestamp(float(tp[j]), UTC)
        # The jolt happened during the second before the fix (see roughness.pass_iri): halfway
        # back to the previous fix when that one is on the same segment.
        at = float(offset[p])
        if p > 0 and seg[p - 1] == seg[p] and t[p] - t[p - 1] <= 1.5:
            at = 0.5 * (float(offset[p - 1]) + at)
        touched.add((int(seg[p]), when.date()))
        events.append(
            (
                when,
                device_id,
                int(seg[p]),
                at,
                int(sev[j]),
                _f(plat[j]),
                _f(plon[j]),
                _f(ppeak[j]),
                int(idx[p]),
            )
        )
    if events:
        pass_start = {i: datetime.fromtimestamp(float(t[first[i]]), UTC) for i in {e[8] for e in events}}
        with conn.cursor() as cur:
            cur.executemany(
                'INSERT INTO pothole_events (time, device_id, segment_id, "offset", severity, lat, lon,'
                " peak, pass_start) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [(*e[:8], pass_start[e[8]]) for e in events],
            )
    return k, len(events), touched


def rebuild_indicators(conn: Conn, touched: set[tuple[int, date]], params: IndicatorParams) -> dict[str, int]:
    """Recompute every (segment, period) the touched (segment, day) pairs fall in."""
    written: dict[str, int] = {}
    for period in PERIODS:
        groups: dict[date, set[int]] = defaultdict(set)
        for seg, day in touched:
            groups[period_start(day, period)].add(seg)
        n = 0
        for start, segs in sorted(groups.items()):
            n += _rebuild_period(conn, period, start, sorted(segs), params)
        written[period] = n
    return written


def _rebuild_period(conn: Conn, period: str, start: date, segs: list[int], params: IndicatorParams) -> int:
    lo = datetime.combine(start, datetime.min.time(), UTC)
    hi = datetime.combine(period_end(start, period), datetime.min.time(), UTC)
    rows = conn.execute(
        """
        SELECT segment_id, (start_time AT TIME ZONE 'UTC')::date - %s::date, extract(epoch FROM end_time),
               n_rough, iri, pm25, pm10, co2, temperature, n_coverage, rsrp, rsrq, sinr, n_unusable,
               n_no_service
        FROM segment_passes
        WHERE segment_id = ANY(%s) AND start_time >= %s AND start_time < %s
        ORDER BY segment_id, start_time
        """,
        (start, segs, lo, hi),
    ).fetchall()
    ev = conn.execute(
        """
        SELECT segment_id, "offset", severity, extract(epoch FROM pass_start), hashtext(device_id),
               lat, lon, extract(epoch FROM time), peak
        FROM pothole_events
        WHERE segment_id = ANY(%s) AND time >= %s AND time < %s ORDER BY segment_id, time
        """,
        (segs, lo, hi),
    ).fetchall()
    conn.execute(
        "DELETE FROM segment_indicators WHERE period = %s AND period_start = %s AND segment_id = ANY(%s)",
        (period, start, segs),
    )
    conn.execute(
        "DELETE FROM pothole_clusters WHERE period = %s AND period_start = %s AND segment_id = ANY(%s)",
        (period, start, segs),
    )
    if not rows:
        return 0
    cols = _cols([(0, *r[1:]) for r in rows], 15)
    ecols = _cols([(0, *r[1:]) for r in ev], 9)
    sid = _ids(rows)
    esid = _ids(ev)
    out = []
    clusters_out = []
    for s in np.unique(sid):
        m = sid == s
        day, end, n_rough, iri, pm25, pm10, co2, temp, n_cov, rsrp, rsrq, sinr, n_bad, n_none = (
            c[m] for c in cols[1:]
        )
        day_i = day.astype(np.int64)
        seg_iri, conf = roughness.segment_iri(iri, n_rough.astype(np.int64))
        air_vals = {}
        air_days = 0
        for name, v in (("pm25", pm25), ("pm10", pm10), ("co2", co2), ("temperature", temp)):
            air_vals[name], d = air.segment_air(v, day_i, params.air_min_days)
            air_days = max(air_days, d)
        cov = coverage.segment_coverage(
            n_cov.astype(np.int64),
            rsrp,
            rsrq,
            sinr,
            n_unusable=n_bad.astype(np.int64),
            n_none=n_none.astype(np.int64),
            params=params,
        )
        em = esid == s
        confirmed_n = 0
        if em.any():
            off, sev, pstart, dev, lat, lon, et, peak = (c[em] for c in ecols[1:])
            pass_key = np.unique(np.column_stack([pstart, dev]), axis=0, return_inverse=True)[1].ravel()
            cl, confirmed = potholes.cluster_events(
                off,
                pass_key.astype(np.int64),
                sev.astype(np.int64),
                params.pothole_radius_m,
                params.pothole_min_passes,
                segment_passes=int(m.sum()),
                min_share=params.pothole_min_share,
                peak=peak,
                min_peak=max(params.pothole_min_peak_g, params.pothole_peak_per_iri * (seg_iri or 0.0)),
            )
            confirmed_n = int(confirmed.sum())
            for c in range(len(cl.offset)):
                mm = cl.member == c
                clusters_out.append(
                    (
                        int(s),
                        period,
                        start,
                        float(cl.offset[c]),
                        _f(float(np.nanmedian(lat[mm]))) if np.isfinite(lat[mm]).any() else None,
                        _f(float(np.nanmedian(lon[mm]))) if np.isfinite(lon[mm]).any() else None,
                        int(cl.events[c]),
                        int(cl.passes[c]),
                        int(cl.severity[c]),
                        bool(confirmed[c]),
                        datetime.fromtimestamp(float(et[mm].max()), UTC),
                        _f(float(cl.peak[c])),
                    )
                )
        out.append(
            (
                int(s),
                period,
                start,
                int(m.sum()),
                len(np.unique(day_i)),
                datetime.fromtimestamp(float(end.max()), UTC),
                seg_iri,
                conf,
                confirmed_n,
                int(em.sum()),
                air_days,
                air_vals["pm25"],
                air_vals["pm10"],
                air_vals["co2"],
                air_vals["temperature"],
                cov["rsrp"],
                cov["rsrq"],
                cov["sinr"],
                cov["unusable_share"],
                cov["dead_spots"],
            )
        )
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO segment_indicators (segment_id, period, period_start, passes, days, last_measured,"
            " iri, iri_confidence, potholes, pothole_events, air_days, pm25, pm10, co2, temperature,"
            " rsrp, rsrq, sinr, unusable_share, dead_spots)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            out,
        )
        if clusters_out:
            cur.executemany(
                'INSERT INTO pothole_clusters (segment_id, period, period_start, "offset", lat, lon, events,'
                " passes, severity, confirmed, last_seen, peak)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                clusters_out,
            )
    return len(out)


def recompute(conn: Conn, params: IndicatorParams | None = None) -> JobReport:
    """Bring passes and indicators up to date with the matched points; one transaction per device
    (its passes and the indicators they touch), so readers never see a half-written device."""
    params = params or IndicatorParams()
    report = JobReport()
    for device_id, since, until in _devices_to_process(conn):
        with conn.transaction():
            n_pass, n_ev, touched = rebuild_passes(conn, device_id, since, until, params)
            written = rebuild_indicators(conn, touched, params)
            conn.execute(
                "INSERT INTO indicator_state (device_id, passes_until) VALUES (%s, %s)"
                " ON CONFLICT (device_id) DO UPDATE"
                " SET passes_until = EXCLUDED.passes_until, updated_at = now()",
                (device_id, until),
            )
        report.devices += 1
        report.passes += n_pass
        report.pothole_events += n_ev
        report.indicator_rows += sum(written.values())
        for k, v in written.items():
            report.periods[k] = report.periods.get(k, 0) + v
    return report
