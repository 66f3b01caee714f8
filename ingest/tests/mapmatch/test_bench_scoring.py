"""The benchmark's route mismatch (``bench.mapmatch_scoring``) on a drawn map, counted by hand.

Routes are sequences of directed edges, consecutive repeats removed, on both sides (truth and
match); an edge driven twice counts twice, the opposite direction of a two-way street is another
edge, and whole edges count (the first and last edges too, on both sides).
"""

from __future__ import annotations

import numpy as np
import pytest

from bench.mapmatch_scoring import mismatch_lengths, score
from ingest.tests.roadnet.ascii_map import DrawnMap, draw

MAP = """
    A-----B-----C
          |
          |
          D
"""
WAYS = {
    "AB": {"highway": "residential", "name": "West"},
    "BC": {"highway": "residential", "name": "East"},
    "BD": {"highway": "service", "name": "Stub"},
}


@pytest.fixture(scope="module")
def drawn(tmp_path_factory: pytest.TempPathFactory) -> DrawnMap:
    return draw(MAP, WAYS, tmp_path_factory.mktemp("scoring"))


def _edge(drawn: DrawnMap, name: str, *, towards: str) -> int:
    """The directed edge of street ``name`` heading east/west/south/north."""
    net = drawn.network
    names = net.edge_names(np.arange(net.n_edges))
    d = net.node_xy[net.edge_to] - net.node_xy[net.edge_from]
    axis, sign = {"east": (0, 1), "west": (0, -1), "north": (1, 1), "south": (1, -1)}[towards]
    hits = [e for e in range(net.n_edges) if names[e] == name and np.sign(d[e, axis]) == sign]
    assert len(hits) == 1
    return hits[0]


def test_exact_match_scores_zero(drawn: DrawnMap) -> None:
    truth = np.array([_edge(drawn, "West", towards="east"), _edge(drawn, "East", towards="east")])
    added, omitted, true = mismatch_lengths(drawn.network, truth, truth.copy())
    assert (added, omitted) == (0.0, 0.0)
    assert true == pytest.approx(120.0, abs=1.0)


def test_excursion_into_a_dead_end_adds_both_directions(drawn: DrawnMap) -> None:
    ab, bc = _edge(drawn, "West", towards="east"), _edge(drawn, "East", towards="east")
    bd, db = _edge(drawn, "Stub", towards="south"), _edge(drawn, "Stub", towards="north")
    added, omitted, _ = mismatch_lengths(drawn.network, np.array([ab, bc]), np.array([ab, bd, db, bc]))
    assert added == pytest.approx(60.0, abs=1.0)  # 30 m down and 30 m back up
    assert omitted == 0.0


def test_back_and_forth_counts_the_repeat_and_the_opposite_direction(drawn: DrawnMap) -> None:
    ab, ba = _edge(drawn, "West", towards="east"), _edge(drawn, "West", towards="west")
    bc = _edge(drawn, "East", towards="east")
    added, omitted, _ = mismatch_lengths(drawn.network, np.array([ab, bc]), np.array([ab, ba, ab, bc]))
    assert added == pytest.approx(120.0, abs=1.0)  # BA once, AB a second time
    assert omitted == 0.0


def test_a_true_repeat_must_be_matched_twice(drawn: DrawnMap) -> None:
    # The van really went down the stub and back (a dead-end U-turn) and on east.
    ab, bc = _edge(drawn, "West", towards="east"), _edge(drawn, "East", towards="east")
    bd, db = _edge(drawn, "Stub", towards="south"), _edge(drawn, "Stub", towards="north")
    truth = np.array([ab, bd, db, bc])
    added, omitted, true = mismatch_lengths(drawn.network, truth, np.array([ab, bc]))
    assert added == 0.0
    assert omitted == pytest.approx(60.0, abs=1.0)
    assert true == pytest.approx(180.0, abs=1.0)


def test_wrong_direction_is_added_and_omitted(drawn: DrawnMap) -> None:
    ab, ba = _edge(drawn, "West", towards="east"), _edge(drawn, "West", towards="west")
    added, omitted, _ = mismatch_lengths(drawn.network, np.array([ab]), np.array([ba]))
    assert added == pytest.approx(60.0, abs=1.0)
    assert omitted == pytest.approx(60.0, abs=1.0)


def test_score_aggregates_lengths_not_trace_ratios(drawn: DrawnMap) -> None:
    ab, bc = _edge(drawn, "West", towards="east"), _edge(drawn, "East", towards="east")
    bd, db = _edge(drawn, "Stub", towards="south"), _edge(drawn, "Stub", towards="north")
    s = score(
        drawn.network,
        "x",
        truths=[np.array([ab, bc]), np.array([ab])],
        paths=[np.array([ab, bd, db, bc]), np.array([ab])],
        matched=[np.ones(3, dtype=np.bool_), np.ones(2, dtype=np.bool_)],
        seconds=1.0,
        splits=0,
    )
    assert s.route_mismatch == pytest.approx(60.0 / 180.0, rel=0.02)
    assert s.added_share == pytest.approx(s.route_mismatch)
    assert s.omitted_share == 0.0
    assert s.fixes == 5


def test_unmatched_slots_are_ignored(drawn: DrawnMap) -> None:
    ab = _edge(drawn, "West", towards="east")
    added, omitted, _ = mismatch_lengths(drawn.network, np.array([ab]), np.array([-1, ab, -1]))
    assert (added, omitted) == (0.0, 0.0)


def test_drawn_map_is_what_the_cases_assume(drawn: DrawnMap) -> None:
    # Two-way streets: 3 streets → 6 directed edges.
    assert drawn.network.n_edges == 6
