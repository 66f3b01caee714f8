"""Rounds on the real Helsinki and Monaco extracts: legal, every stop visited, truth consistent."""

from __future__ import annotations

import numpy as np
import pytest

from ingest.roadnet import RoadNetwork, helsinki_pbf, load_network, monaco_pbf
from simulators.gnss import GnssConfig, GnssReceiver
from simulators.rounds import Round, plan_round
from simulators.routing import LegalGraph, allowed_transitions, violations


@pytest.fixture(scope="module")
def helsinki() -> RoadNetwork:
    return load_network(helsinki_pbf())


@pytest.fixture(scope="module")
def helsinki_round(helsinki: RoadNetwork) -> Round:
    return plan_round(helsinki, stops=40, seed=2)


def test_the_round_is_legal_on_the_network(helsinki: RoadNetwork, helsinki_round: Round) -> None:
    assert violations(helsinki, helsinki_round.edges) == []
    # one-ways: every edge is a directed edge of the network, so driving it is its legal direction;
    # U-turns happen only where the street ends
    outdeg = np.diff(helsinki.out_offsets)
    for a, b in zip(helsinki_round.edges[:-1], helsinki_round.edges[1:], strict=True):
        if helsinki.reverse_edge[a] == b:
            assert outdeg[helsinki.edge_to[a]] == 1


def test_the_truth_trajectory_follows_the_edges_it_names(
    helsinki: RoadNetwork, helsinki_round: Round
) -> None:
    traj = helsinki_round.traj
    truth = traj.sample(np.arange(0.0, traj.duration, 0.5))
    on_net = helsinki.point_at(truth.edge, truth.offset)
    assert np.hypot(on_net[:, 0] - truth.x, on_net[:, 1] - truth.y).max() < 0.01
    driven = [int(e) for i, e in enumerate(truth.edge) if i == 0 or e != truth.edge[i - 1]]
    assert set(driven) <= set(helsinki_round.edges)
    lon, lat = helsinki.to_lonlat(truth.x, truth.y)
    assert np.allclose(lon, truth.lon) and np.allclose(lat, truth.lat)


def test_every_stop_is_visited_for_its_dwell_and_the_van_comes_home(helsinki_round: Round) -> None:
    traj = helsinki_round.traj
    assert len(helsinki_round.stops) == 40
    for stop, arrive in zip(helsinki_round.stops, traj.stop_arrival_t, strict=True):
        assert 20.0 <= stop.dwell_s <= 180.0
        during = traj.sample(np.linspace(arrive, arrive + stop.dwell_s, 20))
        assert np.all(during.edge == stop.edge)
        assert np.allclose(during.offset, stop.offset, atol=1e-6)
        assert np.all(during.speed < 1e-9)
    end = traj.sample([traj.duration])
    assert end.edge[0] == helsinki_round.depot.edge
    assert end.offset[0] == pytest.approx(helsinki_round.depot.offset, abs=1e-6)


def test_speed_respects_each_roads_limit(helsinki: RoadNetwork, helsinki_round: Round) -> None:
    truth = helsinki_round.traj.sample(np.arange(0.0, helsinki_round.traj.duration, 1.0))
    limit = helsinki.edge_maxspeed[truth.edge] / 3.6
    assert np.all(truth.speed <= limit + 1e-6)


def test_u_turns_only_in_dead_ends_in_the_transition_table(helsinki: RoadNetwork) -> None:
    e, f = allowed_transitions(helsinki)
    back = f == helsinki.reverse_edge[e]
    assert back.any()
    outdeg = np.diff(helsinki.out_offsets)
    assert np.all(outdeg[helsinki.edge_to[e[back]]] == 1)
    assert LegalGraph(helsinki).in_main_component().mean() > 0.8


def test_a_round_on_monaco_too() -> None:
    net = load_network(monaco_pbf())
    rnd = plan_round(net, stops=15, seed=5)
    assert violations(net, rnd.edges) == []
    assert len(rnd.traj.stops) == 15


def test_covered_stretches_of_the_round_have_no_fix(helsinki_round: Round) -> None:
    assert len(helsinki_round.outage_edges) == 2
    rx = GnssReceiver(helsinki_round.traj, GnssConfig(ttff_s=0.0), tail_s=0.0)
    edge = helsinki_round.traj.sample(rx.t).edge
    under = np.isin(edge, helsinki_round.outage_edges)
    assert under.any() and not rx.fix[under].any()
    assert rx.fix[~under].mean() > 0.95


@pytest.mark.parametrize("seed", [11, 12, 13, 14, 15])
def test_rounds_of_any_seed_are_legal_and_within_limits(helsinki: RoadNetwork, seed: int) -> None:
    rnd = plan_round(helsinki, stops=15, seed=seed)
    assert violations(helsinki, rnd.edges) == []
    truth = rnd.traj.sample(np.arange(0.0, rnd.traj.duration, 0.5))
    assert np.all(truth.speed <= helsinki.edge_maxspeed[truth.edge] / 3.6 + 1e-6)
    for stop, arrive in zip(rnd.stops, rnd.traj.stop_arrival_t, strict=True):
        at = rnd.traj.sample([arrive + stop.dwell_s / 2])
        assert at.edge[0] == stop.edge and abs(at.offset[0] - stop.offset) < 1e-6
