"""Map matching on road maps drawn as ASCII art (Valhalla gurka style).

Letters are OSM nodes, digits are trace points (10 m per character); the tests drive a van
through the digits and assert the names of the streets it was matched to.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ingest.mapmatch import Trace
from ingest.tests.mapmatch.conftest import drive_through, fix_names, match, path_names
from ingest.tests.roadnet.ascii_map import DrawnMap, draw

GRID = """
    A-0-------1-B----------2--C
                |             |
                |             |
                3             |
                |             |
                D--------4----E
"""
GRID_WAYS = {
    "ABC": {"highway": "residential", "name": "Main"},
    "BD": {"highway": "residential", "name": "Side"},
    "CE": {"highway": "residential", "name": "East", "oneway": "yes"},
    "DE": {"highway": "residential", "name": "South"},
}


@pytest.fixture(scope="module")
def grid(tmp_path_factory: pytest.TempPathFactory) -> DrawnMap:
    return draw(GRID, GRID_WAYS, tmp_path_factory.mktemp("grid"))


def test_straight_along_main_street(grid: DrawnMap) -> None:
    result = match(grid, drive_through(grid, "012"))
    assert path_names(grid, result) == ["Main"]
    assert set(fix_names(grid, result)) == {"Main"}
    assert result.matched.all()


def test_turn_into_side_street(grid: DrawnMap) -> None:
    result = match(grid, drive_through(grid, "013", sigma=3.0))
    assert path_names(grid, result) == ["Main", "Side"]


def test_sparse_fixes_are_routed_around_the_block(grid: DrawnMap) -> None:
    # Fixes only at 0, 2 and 4: the route between 2 and 4 must use the one-way East street.
    trace = drive_through(grid, "024", speed=10.0)
    sparse = Trace(t=trace.t[[0, 17, -1]], xy=grid.xy("024"))
    result = match(grid, sparse, sigma_z=5.0)
    assert path_names(grid, result) == ["Main", "East", "South"]


def test_one_way_is_never_driven_backwards(grid: DrawnMap) -> None:
    # From 4 back to 2: East is one-way northwards... southwards (C→E), so the van goes via Side.
    trace = Trace(t=np.array([0.0, 60.0]), xy=grid.xy("42"))
    result = match(grid, trace, sigma_z=5.0)
    assert path_names(grid, result) == ["South", "Side", "Main"]


DEAD_END = """
    A---0---B---1---C
            |
            2
            |
            D
"""
DEAD_END_WAYS = {
    "ABC": {"highway": "residential", "name": "Main"},
    "BD": {"highway": "service", "name": "Cul-de-sac"},
}


def test_u_turn_in_a_dead_end(tmp_path: Path) -> None:
    drawn = draw(DEAD_END, DEAD_END_WAYS, tmp_path)
    d_xy = drawn.network.node_xy[np.argmin(drawn.network.node_xy[:, 1])]
    drawn.points["9"] = d_xy + np.array([0.0, 3.0])
    result = match(drawn, drive_through(drawn, "02921", speed=5.0, sigma=2.0))
    assert path_names(drawn, result) == ["Main", "Cul-de-sac", "Main"]
    cul = [e for e in result.path_edges.tolist() if drawn.network.edge_names([e]) == ["Cul-de-sac"]]
    assert len(set(cul)) == 2, "both directions of the cul-de-sac are driven"


def test_standstill_noise_never_detours_around_the_block(grid: DrawnMap) -> None:
    # Parked at 1 for five minutes with 6 m of noise, fixes scattering onto Side and behind.
    rng = np.random.default_rng(7)
    parked = grid.xy("1") + rng.normal(0.0, 6.0, (300, 2))
    approach = drive_through(grid, "01")
    xy = np.concatenate([approach.xy, parked, grid.xy("2")])
    t = np.concatenate([approach.t, approach.t[-1] + 1 + np.arange(300.0), [approach.t[-1] + 320]])
    result = match(grid, Trace(t=t, xy=xy), sigma_z=6.0)
    assert path_names(grid, result) == ["Main"]
    assert result.matched.all()
    main = np.flatnonzero(np.asarray(fix_names(grid, result)) == "Main")
    assert len(main) == len(t)
    assert np.all(np.diff(result.offset[result.edge == result.edge[-1]]) >= -1e-9), "never backwards"


def test_gnss_gap_is_rerouted_and_marked(grid: DrawnMap) -> None:
    trace = drive_through(grid, "01234", speed=10.0)
    in_gap = (trace.t > trace.t[0] + 12) & (trace.t < trace.t[0] + 40)
    gapped = Trace(t=trace.t[~in_gap], xy=trace.xy[~in_gap])
    result = match(grid, gapped)
    assert path_names(grid, result) == ["Main", "Side", "South"]
    assert result.after_gap.sum() == 1
    assert result.chain_start.sum() == 1, "a gap within the breakage distance does not split"


def test_far_jump_breaks_the_chain(grid: DrawnMap) -> None:
    trace = Trace(t=np.array([0.0, 10.0, 20.0, 30.0]), xy=grid.xy("0122"))
    result = match(grid, trace, breakage_distance=100.0)
    assert result.chain_start.tolist() == [True, False, True, False]


def test_fix_far_from_any_road_is_unmatched(grid: DrawnMap) -> None:
    xy = np.concatenate([grid.xy("0"), grid.xy("1") + np.array([0.0, -400.0]), grid.xy("1")])
    result = match(grid, Trace(t=np.array([0.0, 5.0, 10.0]), xy=xy))
    assert result.matched.tolist() == [True, False, True]
    assert result.edge[1] == -1
    assert result.confidence[1] == 0.0
    assert np.isnan(result.xy[1]).all()


def test_empty_single_and_unmatchable_traces(grid: DrawnMap) -> None:
    empty = Trace(t=np.zeros(0), xy=np.zeros((0, 2)))
    single = Trace(t=np.array([0.0]), xy=grid.xy("1"))
    lost = Trace(t=np.array([0.0, 1.0]), xy=grid.xy("12") + np.array([0.0, 900.0]))
    net = grid.network
    from ingest.mapmatch import MapMatcher, MatchParams  # noqa: PLC0415
    from ingest.mapmatch.route_table import RouteTable  # noqa: PLC0415

    matcher = MapMatcher(net, MatchParams(), RouteTable.build(net, 3000.0))
    assert matcher.match_many([]) == []
    r_empty, r_single, r_lost = matcher.match_many([empty, single, lost])
    assert len(r_empty.edge) == 0 and len(r_empty.path_edges) == 0
    assert r_single.matched.tolist() == [True] and path_names(grid, r_single) == ["Main"]
    assert not r_lost.matched.any() and len(r_lost.path_edges) == 0


def test_confidence_drops_when_the_implied_speed_is_implausible(grid: DrawnMap) -> None:
    # Main is residential (30 km/h): 8 m/s is plausible, 40 m/s (144 km/h) is not.
    legal = match(grid, drive_through(grid, "012", speed=8.0))
    speeding = match(grid, drive_through(grid, "012", speed=40.0))
    assert path_names(grid, speeding) == ["Main"]
    assert np.median(legal.confidence) > 0.8
    assert np.median(speeding.confidence[2:]) < 0.1
    assert np.all((speeding.confidence >= 0) & (speeding.confidence <= 1))
