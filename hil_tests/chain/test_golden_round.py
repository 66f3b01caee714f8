"""The golden round: one 8-h postal round on the Helsinki network through the whole chain.

The simulators drive a van through ~200 delivery stops (``simulators.fleet.build``); the real
firmware (frozen, ``-X heapsize=64k``) measures it and uploads at the depot through a real gateway
to a real ingest service on its own scratch database; the next morning's boot at the depot uploads
whatever the evening's visit left. Then:

- every reading the firmware made durable is in TimescaleDB exactly once, per table, per
  (seq, ticks) (only the block sealed at the last clean shutdown, after the last upload, is still on
  the van's flash, as on a real van);
- the matcher on the stored trace meets the map-matching targets against the simulator's truth
  (route mismatch as Newson & Krumm define it, ≥ 99.5 % of 1-Hz fixes matched, no split);
- the potholes the firmware reported are on the segments where the truth put them;
- the query API serves indicators for the round's segments.

The wall time of the round is reported (``golden round:`` line, ``-s``), not asserted: the 60-s target
is measured by ``bench/bench_firmware.py``.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
import psycopg
import pytest

from hil_tests.chain.harness import Chain, Comparison, DriveResult, Produced, Stored, compare
from hil_tests.firmware.harness import frozen_source_ready
from ingest.app import create_app
from ingest.indicators.worker import run_once
from ingest.mapmatch import MapMatcher, MatchResult, Trace
from ingest.roadnet import RoadNetwork, helsinki_pbf, load_network
from ingest.testing import IngestService, LiveServer, ingest_settings, scratch_database
from simulators.fleet import VanPlan, build
from simulators.scenario import make_van
from simulators.trajectory import Trajectory

pytestmark = pytest.mark.timeout(1800)

STOPS = 200  # ~7.8 h of driving and delivering with seed 3
SEED = 3
START = dt.datetime(2026, 6, 15, 6, 0, tzinfo=dt.UTC)
ROUTE_MISMATCH_MAX = 0.02  # fastmm tuned on Helsinki σ10 1 Hz measured 1.8 % (issue 6)
MATCHED_MIN = 0.995


def parked_at_depot(plan: VanPlan, seconds: float, start_utc: dt.datetime) -> Any:
    """The next morning: the van stands at the depot with the ignition on for ``seconds``."""
    x0, y0 = plan.rnd.traj.path_xy[0]
    traj = Trajectory.build(plan.rnd.traj.frame, [[x0, y0], [x0 + 2.0, y0]], [1.0], [], start_dwell_s=seconds)
    van, _ = make_van(traj, seed=SEED + 100, name="golden-parked", start_utc=start_utc, tail_s=0.0)
    return van


@dataclass
class Golden:
    net: RoadNetwork
    plan: VanPlan
    chain: Chain
    runs: list[DriveResult]
    made: Produced
    held: Stored
    comparison: Comparison
    result: MatchResult
    trace_t: np.ndarray[Any, np.dtype[np.float64]]
    potholes: np.ndarray[Any, np.dtype[np.float64]]  # (utc, severity) per event
    segments_api: dict[str, Any]
    measured_segments: int
    wall_s: float


@pytest.fixture(scope="module")
def golden(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Golden]:
    if not frozen_source_ready():
        pytest.skip("the frozen firmware build's source is not in the cache: run `make firmware-frozen`")
    started = time.monotonic()
    net = load_network(helsinki_pbf())
    plan = build(net, STOPS, SEED, "golden", start_utc=START, tail_s=900.0)
    with (
        scratch_database("facteur_test_golden") as url,
        LiveServer(create_app(ingest_settings(url))) as server,
        Chain(IngestService(server.url, url), tmp_path_factory.mktemp("golden")) as chain,
    ):
        round_run = chain.drive(chain.world(plan.van))
        morning = START + dt.timedelta(hours=24)
        park_run = chain.drive(chain.world(parked_at_depot(plan, 600.0, morning)))
        chain.settle()
        made = chain.produced(park_run)
        held = chain.stored()
        comparison = compare(made.keys(), held, seqs=made.uploaded)
        matcher = MapMatcher(net)
        run_once(url, matcher)  # the service's worker: segments, matching, indicators
        with psycopg.connect(url) as conn:
            rows = conn.execute(
                "SELECT extract(epoch FROM time), lat, lon FROM track WHERE device_id = %s AND fix"
                " AND time < %s ORDER BY time",
                (chain.device_id, morning),
            ).fetchall()
            potholes = conn.execute(
                "SELECT extract(epoch FROM time), severity FROM potholes WHERE device_id = %s AND time < %s",
                (chain.device_id, morning),
            ).fetchall()
            measured = conn.execute(
                "SELECT count(DISTINCT segment_id) FROM segment_indicators WHERE period = 'day'"
            ).fetchone()
        t = np.array([float(r[0]) for r in rows])
        trace = Trace.from_lonlat(net, t, np.array([r[2] for r in rows]), np.array([r[1] for r in rows]))
        result = matcher.match(trace)
        lon, lat = plan.rnd.traj.frame.to_lonlat(*plan.rnd.traj.path_xy.T)
        bbox = f"{lon.min() - 0.01},{lat.min() - 0.01},{lon.max() + 0.01},{lat.max() + 0.01}"
        fc = httpx.get(
            f"{server.url}/v1/segments",
            params={
                "bbox": bbox,
                "measured_only": "true",
                "period": "day",
                "from": "2026-06-15",
                "to": "2026-06-15",
            },
            timeout=60,
        ).json()
        wall = time.monotonic() - started
        g = Golden(
            net, plan, chain, [round_run, park_run], made, held, comparison, result, t,
            np.array([[float(p[0]), float(p[1])] for p in potholes]).reshape(-1, 2), fc,
            int(measured[0]) if measured else 0, wall,
        )  # fmt: skip
        r = round_run
        print(
            f"\ngolden round: {r.sim_seconds / 3600:.2f} h simulated in {r.wall_seconds:.0f} s wall"
            f" ({r.cpu_seconds:.0f} s CPU of the firmware processes); whole test {wall:.0f} s;"
            f" readings compared {comparison.total_compared}, lost {comparison.total_lost},"
            f" duplicates {comparison.total_duplicates}"
        )
        yield g


def test_the_round_runs_to_the_end_on_64k(golden: Golden) -> None:
    r = golden.runs[0]
    assert r.errors() == []
    assert r.summary["finished"] and r.sim_seconds > 7.5 * 3600
    assert r.last.stats["seconds"] >= int(r.sim_seconds) - 2
    assert r.summary["accel_lost"] == 0


def test_every_reading_is_in_the_database_exactly_once(golden: Golden) -> None:
    made, held, c = golden.made, golden.held, golden.comparison
    assert made.bad_mac == 0
    assert made.seqs == list(range(len(made.seqs))), "a durable block is missing from the log"
    assert held.seqs() == sorted(made.uploaded)
    # Only what the last clean shutdown sealed, after the last upload, is still on the van alone.
    assert set(made.seqs) - made.uploaded <= {max(made.seqs)}
    assert c.exact, c
    assert c.produced["track"] >= 7.5 * 3600
    assert c.produced["air"] > 0 and c.produced["co2"] > 0 and c.produced["coverage"] > 0
    assert c.produced["potholes"] > 0 and c.produced["health"] > 0
    assert sum(c.quarantined.values()) == 0


def test_map_matching_meets_the_targets(golden: Golden) -> None:
    from bench.mapmatch_scoring import mismatch_lengths  # noqa: PLC0415

    r = golden.result
    truth = np.asarray(golden.plan.rnd.edges, dtype=np.int64)
    added, omitted, total = mismatch_lengths(golden.net, truth, r.path_edges)
    mismatch = (added + omitted) / total
    matched = float(r.matched.mean())
    splits = int(r.chain_start.sum()) - 1
    print(
        f"\ngolden matching: mismatch {mismatch:.4f}, matched {matched:.4f}, splits {splits},"
        f" fixes {len(r.matched)}"
    )
    assert len(r.matched) >= 0.95 * golden.plan.rnd.traj.duration
    assert matched >= MATCHED_MIN
    assert splits == 0
    assert mismatch <= ROUTE_MISMATCH_MAX


POTHOLE_RADIUS_M = 20.0  # GNSS noise, the matcher's snap and one second of travel at 10 m/s


def test_potholes_are_found_where_the_truth_put_them(golden: Golden) -> None:
    """Each pothole event the firmware reported, placed where the matcher put the van at that second,
    against the truth's potholes: recall over the truth's potholes; precision over the events the
    firmware rated severe (≥ 2; the light ones also fire on rough road and are what the indicator
    job's multi-pass confirmation is for). Segment level: the pothole's segment (either direction)
    is one the van was matched to within two seconds before the event."""
    net, rnd, r, t = golden.net, golden.plan.rnd, golden.result, golden.trace_t
    traj = rnd.traj
    truth_s = np.array([f.s for f in rnd.features if f.kind == "pothole"])
    tx, ty = net.to_xy(*traj.frame.to_lonlat(*traj.xy_at(truth_s)))
    truth_xy = np.column_stack([tx, ty])
    truth_edge = traj.seg_edge[traj.segment_at(truth_s)]
    ev = golden.potholes
    # An event is written on a second tick after the wheel hit (the detector looks at the whole
    # second, and the record closes it): the pothole lies on the road the van was matched to over
    # the seconds before the event.
    i = np.clip(np.searchsorted(t, ev[:, 0]), 2, len(t) - 2)
    ok = r.matched[i]
    i, severity = i[ok], ev[ok, 1]
    xy = r.xy[i]
    dist = np.hypot(xy[:, None, 0] - truth_xy[None, :, 0], xy[:, None, 1] - truth_xy[None, :, 1])
    near = dist <= POTHOLE_RADIUS_M
    edges = np.stack([r.edge[i + k] for k in (-2, -1, 0, 1)], axis=1)
    both = np.concatenate([edges, net.reverse_edge[edges]], axis=1)
    same_segment = (both[:, :, None] == truth_edge[None, None, :]).any(axis=1)
    recall = float(near.any(axis=0).mean())
    severe = severity >= 2
    precision = float(near[severe].any(axis=1).mean()) if severe.any() else 0.0
    segment_recall = float((near & same_segment).any(axis=0).mean())
    print(
        f"\ngolden potholes: {len(truth_s)} in the truth, {len(ev)} events ({int(severe.sum())} severe);"
        f" recall {recall:.2f} (segment level {segment_recall:.2f}),"
        f" precision of severe events {precision:.2f}"
    )
    assert recall >= 0.8
    assert segment_recall >= 0.75  # measured 0.81 (0.67 with only the event's own second)
    assert severe.sum() >= 5 and precision >= 0.9


def test_the_api_serves_indicators_for_the_round(golden: Golden) -> None:
    feats = golden.segments_api["features"]
    driven = {int(golden.net.edge_id[e]) for e in golden.result.edge[golden.result.matched]}
    served = {int(f["id"]) for f in feats}
    assert golden.measured_segments > 100
    assert len(served) == golden.measured_segments
    assert len(served & driven) >= 0.9 * len(served)
    with_iri = [f for f in feats if f["properties"].get("iri") is not None]
    assert len(with_iri) >= 0.5 * len(feats)
