"""Write a simulated round's device output and ground truth to a folder, for people and pipelines.

Files (CSV with a header row, times in seconds since power-on and in UTC):

==================  =========================================================================
``gnss.nmea``       what the receiver emitted, epoch by epoch (damaged sentences included)
``gnss_truth.csv``  per epoch: true and reported position, fix, satellites used, damaged lines
``track.csv``       truth at ``rate`` Hz: position, edge index and stable id, offset, speed
``stops.csv``       the stops in visiting order: edge, offset, position, arrival, dwell
``road.csv``        per 100 m of the route: ISO 8608 class and golden-car IRI (m/km)
``potholes.csv``    potholes and speed bumps: position along the route, edge/offset, size
``segments.csv``    per edge traversal: mean PM2.5/PM10/CO2 and RSRP, no-service fraction
``summary.json``    the figures above in one place, and the configuration
==================  =========================================================================
"""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from simulators.gnss import GnssReceiver
from simulators.iri import iri_per_section
from simulators.road_profile import RoadProfile
from simulators.rounds import Round
from simulators.world import Van


def _utc(start: dt.datetime, t: float) -> str:
    return (start + dt.timedelta(seconds=t)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _write(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def write_gnss(rx: GnssReceiver, out: Path, until_s: float) -> dict[str, Any]:
    n = min(rx.n_epochs, int(until_s * rx.cfg.rate_hz) + 1)
    damaged = fixes = 0
    rows = []
    with (out / "gnss.nmea").open("wb") as f:
        for k in range(n):
            f.write(rx.epoch(k))
            tr = rx.truth(k)
            damaged += len(tr.corrupted)
            fixes += tr.fix
            rows.append(
                [
                    f"{tr.t:.2f}",
                    tr.utc,
                    f"{tr.lat:.8f}",
                    f"{tr.lon:.8f}",
                    "" if tr.rep_lat is None else f"{tr.rep_lat:.8f}",
                    "" if tr.rep_lon is None else f"{tr.rep_lon:.8f}",
                    int(tr.fix),
                    tr.sats_used,
                    f"{tr.hdop:.2f}",
                    ";".join(f"{i}:{kind}" for i, kind in tr.corrupted),
                ]
            )
    header = ["t", "utc", "lat", "lon", "rep_lat", "rep_lon", "fix", "sats", "hdop", "damaged"]
    _write(out / "gnss_truth.csv", header, rows)
    err = np.hypot(rx.error[:n, 0], rx.error[:n, 1])[rx.fix[:n]]
    return {
        "epochs": n,
        "fix_fraction": fixes / max(n, 1),
        "damaged_sentences": damaged,
        "horizontal_error_rms_m": float(np.sqrt(np.mean(err**2))) if len(err) else None,
    }


def write_round(
    rnd: Round, van: Van, profile: RoadProfile, out: Path, rate_hz: float = 1.0
) -> dict[str, Any]:
    """Everything about one round; returns the summary (also written as ``summary.json``)."""
    out.mkdir(parents=True, exist_ok=True)
    net, traj = rnd.net, rnd.traj
    rx = van.gnss
    start = rx.start_utc
    t = np.arange(0.0, traj.duration + 1e-9, 1.0 / rate_hz)
    tr = traj.sample(t)
    _write(
        out / "track.csv",
        ["t", "utc", "lon", "lat", "x", "y", "edge", "edge_id", "offset", "speed", "heading_deg"],
        [
            [
                f"{t[i]:.3f}",
                _utc(start, float(t[i])),
                f"{tr.lon[i]:.8f}",
                f"{tr.lat[i]:.8f}",
                f"{tr.x[i]:.3f}",
                f"{tr.y[i]:.3f}",
                int(tr.edge[i]),
                int(net.edge_id[tr.edge[i]]),
                f"{tr.offset[i]:.3f}",
                f"{tr.speed[i]:.3f}",
                f"{math.degrees(tr.heading[i]):.1f}",
            ]
            for i in range(len(t))
        ],
    )
    stop_xy = traj.xy_at(rnd.stop_s)
    stop_lon, stop_lat = traj.frame.to_lonlat(*stop_xy)
    _write(
        out / "stops.csv",
        ["order", "edge", "edge_id", "offset", "lon", "lat", "arrival_t", "arrival_utc", "dwell_s"],
        [
            [
                i + 1,
                st.edge,
                int(net.edge_id[st.edge]),
                f"{st.offset:.2f}",
                f"{stop_lon[i]:.8f}",
                f"{stop_lat[i]:.8f}",
                f"{traj.stop_arrival_t[i]:.2f}",
                _utc(start, float(traj.stop_arrival_t[i])),
                f"{st.dwell_s:.1f}",
            ]
            for i, st in enumerate(rnd.stops)
        ],
    )
    iri = iri_per_section(profile.heights[: int(traj.length / profile.dx) + 1], profile.dx, 100.0)
    mids = np.minimum((np.arange(len(iri)) + 0.5) * 100.0, traj.length)
    mx, my = traj.xy_at(mids)
    mlon, mlat = traj.frame.to_lonlat(mx, my)
    seg = traj.segment_at(mids)
    _write(
        out / "road.csv",
        ["s_from", "s_to", "lon", "lat", "edge", "edge_id", "iso_class", "iri_m_per_km"],
        [
            [
                f"{i * 100.0:.0f}",
                f"{min((i + 1) * 100.0, traj.length):.0f}",
                f"{mlon[i]:.8f}",
                f"{mlat[i]:.8f}",
                int(traj.seg_edge[seg[i]]),
                int(net.edge_id[traj.seg_edge[seg[i]]]),
                profile.class_at(float(mids[i])),
                f"{iri[i]:.3f}",
            ]
            for i in range(len(iri))
        ],
    )
    fs = np.array([f.s for f in rnd.features]) if rnd.features else np.zeros(0)
    fx, fy = traj.xy_at(fs)
    flon, flat = traj.frame.to_lonlat(fx, fy)
    fseg = traj.segment_at(fs)
    _write(
        out / "potholes.csv",
        ["kind", "s", "lon", "lat", "edge", "edge_id", "offset", "length_m", "depth_m"],
        [
            [
                f.kind,
                f"{f.s:.2f}",
                f"{flon[i]:.8f}",
                f"{flat[i]:.8f}",
                int(traj.seg_edge[fseg[i]]),
                int(net.edge_id[traj.seg_edge[fseg[i]]]),
                f"{f.s - traj.seg_edge_start_s[fseg[i]]:.2f}",
                f"{f.length:.2f}",
                f"{f.depth:.3f}",
            ]
            for i, f in enumerate(rnd.features)
        ],
    )
    seg_rows = segment_truth(rnd, van)
    _write(
        out / "segments.csv",
        ["edge", "edge_id", "name", "t_enter", "t_leave", "pm25", "pm10", "co2", "rsrp_dbm", "no_service"],
        seg_rows,
    )
    summary: dict[str, Any] = {
        "network_edges": net.n_edges,
        "stops": len(rnd.stops),
        "duration_h": traj.duration / 3600.0,
        "length_km": traj.length / 1000.0,
        "edges_driven": len(rnd.edges),
        "u_turns": sum(
            1 for a, b in zip(rnd.edges[:-1], rnd.edges[1:], strict=True) if net.reverse_edge[a] == b
        ),
        "potholes": sum(f.kind == "pothole" for f in rnd.features),
        "bumps": sum(f.kind == "bump" for f in rnd.features),
        "iri_mean_m_per_km": float(np.mean(iri)) if len(iri) else None,
        "gnss_outage_edges": [int(net.edge_id[e]) for e in rnd.outage_edges],
        "start_utc": start.isoformat(),
        "gnss": write_gnss(rx, out, traj.duration) if isinstance(rx, GnssReceiver) else None,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def segment_truth(rnd: Round, van: Van) -> list[list[Any]]:
    """Mean air, CO2 and radio along each edge traversal, at the time the van drove it."""
    traj = rnd.traj
    t = np.arange(0.0, traj.duration, 1.0)
    tr = traj.sample(t)
    change = np.flatnonzero(np.diff(tr.edge) != 0) + 1
    bounds = np.concatenate([[0], change, [len(t)]])
    t0 = van.gnss.start_utc.timestamp()
    rows: list[list[Any]] = []
    for a, b in itertools.pairwise(bounds):
        x, y = tr.x[a:b], tr.y[a:b]
        when = t0 + float(t[(a + b) // 2])
        _, pm25, pm10 = van.air.pm(x, y, when)
        co2 = van.air.co2(x, y, when)
        rsrp = van.coverage.rsrp(x, y)
        e = int(tr.edge[a])
        covered = rsrp[~np.isnan(rsrp)]
        rows.append(
            [
                e,
                int(rnd.net.edge_id[e]),
                rnd.net.edge_names([e])[0],
                f"{t[a]:.0f}",
                f"{t[b - 1]:.0f}",
                f"{np.mean(pm25):.2f}",
                f"{np.mean(pm10):.2f}",
                f"{np.mean(co2):.1f}",
                f"{np.mean(covered):.1f}" if len(covered) else "",
                f"{np.mean(np.isnan(rsrp)):.2f}",
            ]
        )
    return rows
