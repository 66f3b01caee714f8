"""Stops, dead ends and turning round, on drawn maps (gurka style: letters are nodes, digits trace
points, 10 m per character)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ingest.mapmatch import MatchParams, Trace
from ingest.mapmatch.standstill import smoothed_positions, standing_fixes, thin_standstill
from ingest.tests.mapmatch.conftest import drive_through, match, path_names
from ingest.tests.roadnet.ascii_map import DrawnMap, draw

STUB = """
    A-----2-----0-------1-B
                          |
                          |
                          C
"""
STUB_WAYS = {
    "AB": {"highway": "residential", "name": "Main"},
    "BC": {"highway": "service", "name": "Stub"},
}


@pytest.fixture(scope="module")
def stub(tmp_path_factory: pytest.TempPathFactory) -> DrawnMap:
    return draw(STUB, STUB_WAYS, tmp_path_factory.mktemp("stub"))


def test_turning_back_at_a_junction_with_a_stub_drives_round_the_stub(stub: DrawnMap) -> None:
    # Fixes at 0, 1 (20 m before B) and, 30 s later, at 2 on the way back: turning round in the
    # junction is a priced U-turn; driving into the 30 m stub and out of it is legal and cheaper.
    trace = Trace(t=np.array([0.0, 8.0, 38.0]), xy=stub.xy("012"))
    result = match(stub, trace, sigma_z=10.0)
    assert path_names(stub, result) == ["Main", "Stub", "Main"]
    names = stub.network.edge_names(result.path_edges)
    assert names.count("Stub") == 2, "into the stub and out again"


def test_turning_back_far_from_the_junction_is_a_u_turn(stub: DrawnMap) -> None:
    # At 2 and 0 only, 60 m from B: the loop would add 2 × 110 m; a mid-street U-turn it is.
    trace = Trace(t=np.array([0.0, 8.0, 16.0]), xy=stub.xy("202") + np.array([[0, 0], [60.0, 0], [0, 0]]))
    result = match(stub, trace, sigma_z=10.0)
    assert path_names(stub, result) == ["Main"]


CUL = """
    A-----0-----B-----2-----C
                |
                |
                |
                |
                |
                D
"""
CUL_WAYS = {
    "ABC": {"highway": "residential", "name": "Main"},
    "BD": {"highway": "residential", "name": "Cul"},
}


def test_a_quick_excursion_into_a_cul_de_sac_is_not_standstill_jitter(tmp_path: Path) -> None:
    # 9 m/s into a 60 m cul-de-sac, round at its end, and out: neither the averaged positions of
    # the standstill test nor the backward tolerance (6 σ = 30 m) may pass it off as standing.
    drawn = draw(CUL, CUL_WAYS, tmp_path)
    drawn.points["9"] = drawn.network.node_xy[np.argmin(drawn.network.node_xy[:, 1])] + [0.0, 2.0]
    b = drawn.network.node_xy[np.argmin(np.abs(drawn.network.node_xy[:, 0] - drawn.xy("0")[0, 0] - 60.0))]
    drawn.points["8"] = b
    result = match(drawn, drive_through(drawn, "08982", speed=9.0, sigma=3.0), sigma_z=5.0)
    assert path_names(drawn, result) == ["Main", "Cul", "Main"]


TEE = """
    A-----0-----1-----B-----2-----C
                      |
                      |
                      D
"""
TEE_WAYS = {
    "ABC": {"highway": "residential", "name": "Main"},
    "BD": {"highway": "residential", "name": "Side"},
}


def test_a_delivery_stop_at_a_junction_adds_no_route(tmp_path: Path) -> None:
    # Three minutes standing 5 m before the junction with Side, with σ = 10 m noise whose
    # slow part (a 60 s Gauss–Markov bias, as in the GNSS simulator) drifts the fixes about.
    drawn = draw(TEE, TEE_WAYS, tmp_path)
    rng = np.random.default_rng(3)
    stand = drawn.xy("1") + np.array([15.0, 0.0])
    n = 180
    phi = np.exp(-1.0 / 60.0)
    bias = np.zeros((n, 2))
    bias[0] = rng.normal(0.0, 8.0, 2)
    for i in range(1, n):
        bias[i] = phi * bias[i - 1] + rng.normal(0.0, 8.0 * np.sqrt(1 - phi * phi), 2)
    parked = stand + bias + rng.normal(0.0, 6.0, (n, 2))
    approach = drive_through(drawn, "01", speed=6.0)
    leave = drive_through(drawn, "12", speed=6.0)
    t = np.concatenate(
        [approach.t, approach.t[-1] + 1 + np.arange(n), approach.t[-1] + n + 1 + (leave.t - leave.t[0])]
    )
    xy = np.concatenate([approach.xy, parked, leave.xy])
    result = match(drawn, Trace(t=t, xy=xy), sigma_z=10.0)
    assert path_names(drawn, result) == ["Main"]
    east = drawn.network.edge_names(result.path_edges)
    assert len(result.path_edges) == len(set(result.path_edges.tolist())) == len(east), "no edge twice"


ONE_WAY_BEHIND = """
    Z-------0A--1---2---3---C
"""
ONE_WAY_BEHIND_WAYS = {
    "AZ": {"highway": "residential", "name": "West", "oneway": "yes"},
    "AC": {"highway": "residential", "name": "East"},
}


def test_a_trace_starting_on_a_branch_it_leaves_by_its_sibling_starts_on_the_sibling(
    tmp_path: Path,
) -> None:
    # The first fix lies a metre behind A, where only the one-way West (out of A) runs: it
    # decodes there, and the van then drives East from A, the same junction (a standstill step
    # onto a sibling branch). The path starts on East; West then East would be no drivable
    # path (Monaco seeds 184 and 249 of the property test).
    drawn = draw(ONE_WAY_BEHIND, ONE_WAY_BEHIND_WAYS, tmp_path)
    result = match(drawn, drive_through(drawn, "0123", speed=9.0), sigma_z=5.0)
    assert path_names(drawn, result) == ["East"]
    assert len(result.path_edges) == 1 and result.chain_start.sum() == 1


LOOP_WITH_SIDE = """
    A5-----------------9B1----C
    0                   |
    |                   2
    4                   |
    D---------3---------E
"""
LOOP_WITH_SIDE_WAYS = {
    "AB": {"highway": "residential", "name": "North", "oneway": "yes"},
    "BEDA": {"highway": "residential", "name": "Back", "oneway": "yes"},
    "CB": {"highway": "residential", "name": "Side", "oneway": "yes"},
}


@pytest.mark.parametrize("seed", [0, 1])
def test_a_stop_at_the_end_of_a_long_edge_does_not_undo_it(tmp_path: Path, seed: int) -> None:
    # Round the one-way block from 0: North (200 m), a few seconds at B with the fixes on Side
    # (a standstill step onto its end), then Back to the start. Jitter never reaches 200 m, so
    # the step back onto the chain's first edge is not a retraction to it: the whole loop stays
    # (was ["Back"]: North and the way back undone; Monaco seed 3932037241 of the property test).
    drawn = draw(LOOP_WITH_SIDE, LOOP_WITH_SIDE_WAYS, tmp_path)
    go = drive_through(drawn, "059", speed=9.0, sigma=2.0, seed=seed)
    stand = drawn.xy("1") + np.random.default_rng(seed).normal(0.0, 2.0, (4, 2))
    back = drive_through(drawn, "12340", speed=9.0, sigma=2.0, seed=seed + 1)
    t = np.concatenate([go.t, go.t[-1] + 2 + np.arange(4), go.t[-1] + 6 + (back.t - back.t[0])])
    result = match(drawn, Trace(t=t, xy=np.concatenate([go.xy, stand, back.xy])), sigma_z=5.0)
    assert path_names(drawn, result) == ["Back", "North", "Back"]
    assert result.chain_start.sum() == 1


YARD = """
        D
        |
        |
        |
        6
        |
        |
        |
        |
    A-1-B-----2-----3C---4-5-----E
"""
YARD_WAYS = {
    "AB": {"highway": "residential", "name": "In"},
    "BC": {"highway": "residential", "name": "Long"},
    "CE": {"highway": "service", "name": "Yard"},
    "BD": {"highway": "residential", "name": "Out"},
}


def test_a_street_driven_to_its_end_stays_when_the_van_leaves_by_its_sibling(tmp_path: Path) -> None:
    # One fix every 30 s: In, the whole of Long (120 m) to C, a stop 40 m into the dead-end Yard,
    # 30 m back out, then up Out from B, where Long starts too. The decoder reads the yard as
    # jitter round C (a step back onto the inbound Yard edge is cheaper than turning round). The
    # step onto Out then leaves the junction Long starts at, but the van drove 120 m along Long,
    # more than any jitter: it did not take Out instead of Long at B, it came back down Long
    # (was ["In", "Out"]: Long dropped; held-out Monaco round 213 at 30 s).
    drawn = draw(YARD, YARD_WAYS, tmp_path)
    fixes = "12344456"
    t = np.arange(len(fixes), dtype=np.float64) * 30.0
    result = match(drawn, Trace(t=t, xy=drawn.xy(fixes)), sigma_z=10.0)
    assert path_names(drawn, result) == ["In", "Long", "Out"]
    assert drawn.network.edge_names(result.path_edges).count("Long") == 2, "down Long and back"
    edges = result.path_edges
    assert np.all(drawn.network.edge_to[edges[:-1]] == drawn.network.edge_from[edges[1:]])


def test_averaged_positions_stay_within_each_trace() -> None:
    t = np.array([0.0, 1.0, 2.0, 0.0, 1.0, 2.0])
    xy = np.array([[0.0, 0.0], [2.0, 0.0], [10.0, 0.0], [100.0, 0.0], [102.0, 0.0], [110.0, 0.0]])
    offsets = np.array([0, 3, 6])
    out = smoothed_positions(xy, t, offsets, window_s=2.0)
    # Windows stay centred: they shrink at each trace's ends rather than reach across or lean in.
    np.testing.assert_allclose(out[:, 0], [0.0, 4.0, 10.0, 100.0, 104.0, 110.0])
    np.testing.assert_array_equal(smoothed_positions(xy, t, offsets, window_s=0.0), xy)


def test_thinning_keeps_sparse_fixes() -> None:
    # Sparse fixes (10 s apart) are never averaged together nor thinned.
    t = np.arange(0.0, 50.0, 10.0)
    xy = np.column_stack([np.arange(5) * 3.0, np.zeros(5)])
    keep, _ = thin_standstill(
        xy, t, np.array([0, 5]), min_distance=10.0, gap_seconds=5.0, window_s=10.0, moving_window_s=3.0
    )
    assert keep.all()


def test_standing_fixes_are_thinned_on_averages_moving_ones_are_not() -> None:
    # 30 s standing with fixes jumping 16 m east-west every second, then 9 m/s eastwards.
    stand = np.column_stack([np.where(np.arange(30) % 2 == 0, 8.0, -8.0), np.zeros(30)])
    move = np.column_stack([9.0 * np.arange(1, 16), np.zeros(15)])
    xy = np.concatenate([stand, move])
    t = np.arange(45.0)
    offsets = np.array([0, 45])
    standing = standing_fixes(smoothed_positions(xy, t, offsets, 10.0), t, offsets, 10.0, 10.0)
    assert standing[:18].all() and not standing[35:].any()  # the window sees departure ahead
    keep, _ = thin_standstill(xy, t, offsets, 10.0, 5.0, window_s=10.0, moving_window_s=3.0)
    assert keep[:18].sum() == 1, "a standing van decodes its first fix only (no time rule)"
    assert keep[32:].sum() >= 6, "a van moving 9 m/s decodes a fix every ~10 m"
    raw, _ = thin_standstill(xy, t, offsets, 10.0, 5.0)
    assert raw[:18].sum() == 18, "on raw fixes every jump of the standing van was decoded"


def test_new_parameters_are_validated() -> None:
    from ingest.mapmatch import InvalidParameterError  # noqa: PLC0415

    with pytest.raises(InvalidParameterError, match="standstill_window_s"):
        MatchParams(standstill_window_s=-1.0)
    assert MatchParams(sigma_z=5.0).jitter_tolerance == 30.0
    assert MatchParams(backward_tolerance=12.0).jitter_tolerance == 12.0


def test_three_minutes_without_sky_at_a_stop_do_not_split_the_trace(tmp_path: Path) -> None:
    # The van stops at 1, loses every satellite for 190 s, and the next fix is 40 m further on:
    # a long gap in time over a short distance is routed (and marked), not a new match.
    drawn = draw(TEE, TEE_WAYS, tmp_path)
    before = drive_through(drawn, "01", speed=6.0)
    after = drive_through(drawn, "12", speed=6.0)
    t = np.concatenate([before.t, before.t[-1] + 190.0 + (after.t - after.t[0])])
    result = match(drawn, Trace(t=t, xy=np.concatenate([before.xy, after.xy])), sigma_z=5.0)
    assert result.chain_start.sum() == 1
    assert result.after_gap.sum() == 1
    assert path_names(drawn, result) == ["Main"]


DEPOT = """
    A
    C-----------------0-----D-----1-----E
"""
DEPOT_WAYS = {"AD": {"highway": "service", "name": "Yard"}, "CDE": {"highway": "service", "name": "Lane"}}


@pytest.mark.parametrize("first_fix_up", [5.0, 8.0])
def test_a_van_standing_at_its_depot_is_matched_where_its_standing_fixes_average(
    tmp_path: Path, first_fix_up: float
) -> None:
    # A depot on Lane, where the Yard runs 2.5 m beside it into D (two ways of one yard, as in
    # OSM). The van stands a minute at 0, then leaves east. Its first fix lies towards the Yard;
    # the standstill's fixes average to 0. Decoding the standing fix at its own position put the
    # whole Yard on the path; at the mean of the fixes it stands for, the van never left Lane.
    drawn = draw(DEPOT, DEPOT_WAYS, tmp_path)
    at = drawn.xy("0")[0]
    stand = at + np.random.default_rng(1).normal(0.0, 2.0, (60, 2))
    stand -= stand.mean(axis=0) - at
    stand[0] = at + np.array([0.0, first_fix_up])
    stand[1:] -= (stand[0] - at) / 59
    ahead = drawn.xy("1")[0] - at
    move = at + np.arange(1, 12)[:, None] * 8.0 * ahead / np.hypot(*ahead)
    xy = np.concatenate([stand, move])
    result = match(drawn, Trace(t=np.arange(len(xy), dtype=np.float64), xy=xy), sigma_z=5.0)
    assert path_names(drawn, result) == ["Lane"]


def test_pooled_positions_average_what_a_standing_kept_fix_stands_for() -> None:
    from ingest.mapmatch.standstill import pooled_positions  # noqa: PLC0415

    xy = np.arange(20.0).reshape(10, 2)
    keep = np.array([1, 0, 0, 1, 0, 1, 0, 0, 1, 0], dtype=np.bool_)
    standing = np.array([1, 1, 0, 0, 0, 1, 1, 1, 1, 1], dtype=np.bool_)
    # Kept fixes 0, 3, 5, 8: 0 stands for {0, 1} (2 moves, so it is not pooled), 3 moves (decoded
    # at its own position), 5 stands for {5, 6, 7}, 8 for {8, 9}.
    out = pooled_positions(xy, keep, standing)
    np.testing.assert_allclose(out, [xy[[0, 1]].mean(0), xy[3], xy[[5, 6, 7]].mean(0), xy[[8, 9]].mean(0)])
    assert pooled_positions(xy[:0], keep[:0], standing[:0]).shape == (0, 2)
