"""GNSS gaps longer than the route table's bound, on a drawn map (gurka style: letters are nodes,
digits trace points, 10 m per character).

The van drives north up West, loses the sky from 1 to 2 (round the park by North, 360 m of road,
32 s) and comes back into view driving south down East. Middle is one-way westwards, so the only
legal way from 1 to 2 is round by North. With a 100 m route table the table has no route for
that step: it is re-routed by the gap router, or split where the rules say so.
"""

from __future__ import annotations

import numpy as np
import pytest

from ingest.mapmatch import MatchParams, MatchResult, Trace
from ingest.tests.mapmatch.conftest import drive_through, fix_names, match, path_names
from ingest.tests.roadnet.ascii_map import DrawnMap, draw

PARK = """
    A-------------------------------B
    |                               |
    1                               2
    |                               |
    E-------------------------------F
    |                               |
    0                               3
    |                               |
    C                               D
"""
PARK_WAYS = {
    "CEA": {"highway": "residential", "name": "West"},
    "AB": {"highway": "residential", "name": "North"},
    "BFD": {"highway": "residential", "name": "East"},
    "FE": {"highway": "residential", "name": "Middle", "oneway": "yes"},
}
SMALL_TABLE = 100.0


@pytest.fixture(scope="module")
def park(tmp_path_factory: pytest.TempPathFactory) -> DrawnMap:
    return draw(PARK, PARK_WAYS, tmp_path_factory.mktemp("park"))


def lost_round_the_park(park: DrawnMap, *, gap_s: float | None = None) -> Trace:
    """Fixes along West to 1 and from 2 down East, none in between (``gap_s``: the loss lasts
    this long instead of the 32 s the straight line from 1 to 2 takes at 10 m/s)."""
    trace = drive_through(park, "0123", speed=10.0, sigma=2.0, seed=4)
    t1 = trace.t[0] + np.hypot(*(park.xy("1")[0] - park.xy("0")[0])) / 10.0
    t2 = t1 + np.hypot(*(park.xy("2")[0] - park.xy("1")[0])) / 10.0
    keep = (trace.t <= t1 + 1e-9) | (trace.t >= t2 - 1e-9)
    t = trace.t[keep].copy()
    if gap_s is not None:
        after = t >= t2 - 1e-9
        t[after] -= t[after][0] - t[~after][-1] - gap_s
    return Trace(t=t, xy=trace.xy[keep])


def chain_names(park: DrawnMap, result: MatchResult) -> list[list[str]]:
    """Street names of each chain's path, consecutive repeats folded."""
    out = []
    for c in np.unique(result.path_chain).tolist():
        names = park.network.edge_names(result.path_edges[result.path_chain == c])
        out.append([n for i, n in enumerate(names) if i == 0 or n != names[i - 1]])
    return out


def test_gap_longer_than_the_route_table_is_rerouted_round_the_park(park: DrawnMap) -> None:
    trace = lost_round_the_park(park)
    assert np.diff(trace.t).max() > 30.0
    result = match(park, trace, sigma_z=5.0, route_table_delta=SMALL_TABLE)
    assert result.chain_start.sum() == 1, "a gap within the breakage distance does not split"
    assert path_names(park, result) == ["West", "North", "East"]
    assert result.after_gap.sum() == 1
    gap = int(np.flatnonzero(result.after_gap)[0])
    names = fix_names(park, result)
    assert names[gap - 1] == "West" and names[gap] == "East"
    assert result.matched.all()
    # The path is one connected chain of edges across the gap.
    edges = result.path_edges
    assert np.all(park.network.edge_to[edges[:-1]] == park.network.edge_from[edges[1:]])


def test_gap_route_is_the_one_an_unbounded_table_gives(park: DrawnMap) -> None:
    trace = lost_round_the_park(park)
    small = match(park, trace, sigma_z=5.0, route_table_delta=SMALL_TABLE)
    full = match(park, trace, sigma_z=5.0, route_table_delta=3000.0)
    np.testing.assert_array_equal(small.path_edges, full.path_edges)
    np.testing.assert_array_equal(small.edge, full.edge)
    np.testing.assert_allclose(small.confidence, full.confidence, rtol=1e-6, atol=1e-9)


def test_gap_beyond_the_breakage_distance_splits(park: DrawnMap) -> None:
    # 1 and 2 are 320 m apart: beyond a 200 m breakage distance the match starts again at 2.
    trace = lost_round_the_park(park)
    result = match(park, trace, sigma_z=5.0, route_table_delta=SMALL_TABLE, breakage_distance=200.0)
    assert result.chain_start.sum() == 2
    gap = int(np.flatnonzero(result.after_gap)[0])
    assert result.chain_start[gap], "the new chain starts at the first fix after the gap"
    assert chain_names(park, result) == [["West"], ["East"]]
    assert result.matched.all()


def test_gap_too_short_in_time_for_the_route_splits(park: DrawnMap) -> None:
    # Seen again 16 s later, 360 m of road away: at most 50 km/h that is 222 m (272 m with the
    # search radius), and the last-resort allowance stops at the 340 m breakage distance (the
    # fixes are 320 m apart): no route, a new chain.
    trace = lost_round_the_park(park, gap_s=16.0)
    step = int(np.argmax(np.diff(trace.t)))
    assert np.hypot(*(trace.xy[step + 1] - trace.xy[step])) < 340.0, "within the breakage distance"
    params = {"sigma_z": 5.0, "route_table_delta": SMALL_TABLE, "breakage_distance": 340.0}
    result = match(park, trace, max_speed_kmh=50.0, **params)
    assert result.after_gap.sum() == 1
    assert result.chain_start.sum() == 2
    assert chain_names(park, result) == [["West"], ["East"]]
    # Given the time the van needs, the same gap is re-routed.
    slower = match(park, lost_round_the_park(park, gap_s=30.0), max_speed_kmh=50.0, **params)
    assert slower.chain_start.sum() == 1
    assert path_names(park, slower) == ["West", "North", "East"]


def test_van_out_of_sight_for_minutes_across_a_stop_is_rerouted_not_split(park: DrawnMap) -> None:
    # Lost from 1 to 2 for 11 minutes: round the park by North with a delivery stop there in a
    # narrow street (the bench's held-out Monaco round 205 loses the sky that long across its
    # first stop, and reappears 1.6 km away). The van is seen again 320 m from where it was lost,
    # well within the breakage distance: a continuous trace, re-routed round by North.
    trace = lost_round_the_park(park, gap_s=660.0)
    result = match(park, trace, sigma_z=5.0, route_table_delta=SMALL_TABLE)
    assert result.after_gap.sum() == 1
    assert result.chain_start.sum() == 1, "minutes out of sight within the breakage distance do not split"
    assert path_names(park, result) == ["West", "North", "East"]
    edges = result.path_edges
    assert np.all(park.network.edge_to[edges[:-1]] == park.network.edge_from[edges[1:]])


def test_silence_longer_than_max_gap_seconds_splits(park: DrawnMap) -> None:
    # A receiver silent for longer than a working session's pause: the match starts again.
    silence = MatchParams().max_gap_seconds + 60.0
    result = match(park, lost_round_the_park(park, gap_s=silence), sigma_z=5.0, route_table_delta=SMALL_TABLE)
    assert result.chain_start.sum() == 2
    assert chain_names(park, result) == [["West"], ["East"]]
    assert result.matched.all()
