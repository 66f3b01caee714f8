"""Routes across GNSS gaps: a small route table falling back to bounded Dijkstra's routes agrees
with plain Dijkstra on a real network, and rebuilds them edge by edge."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse.csgraph  # type: ignore[import-untyped]

from ingest.mapmatch import MatchParams
from ingest.mapmatch.gap_routes import gap_routes, gap_steps
from ingest.mapmatch.route_table import NodeGraph, RouteTable
from ingest.roadnet import helsinki_pbf, load_network


def test_fallback_routes_agree_with_dijkstra_and_rebuild_as_edge_chains() -> None:
    net = load_network(helsinki_pbf())
    table = RouteTable.build(net, 300.0)
    graph = NodeGraph.of(net)
    rng = np.random.default_rng(11)
    # Three gap steps: origins clustered around one node each, targets anywhere (most beyond
    # 300 m, some beyond the step's limit).
    centres = rng.integers(0, net.n_nodes, 3)
    origins = [np.unique(np.r_[c, net.edge_to[net.edge_from == c]]) for c in centres.tolist()]
    targets = [rng.integers(0, net.n_nodes, 30) for _ in centres]
    limits = np.array([1500.0, 2500.0, 4000.0])
    extra = gap_routes(graph, origins, targets, limits)
    assert extra is not None
    routes = table.with_fallback(extra)
    assert routes.keys is table.keys, "the big table is shared, not copied"
    o_all, d_all, want_all = [], [], []
    for o, d, limit in zip(origins, targets, limits.tolist(), strict=True):
        full = scipy.sparse.csgraph.dijkstra(graph.matrix, indices=o)
        o_pairs, d_pairs = np.repeat(o, len(d)), np.tile(d, len(o))
        want = full[np.repeat(np.arange(len(o)), len(d)), d_pairs]
        want = np.where((want <= limit) | (want <= table.delta), want, np.inf)
        o_all.append(o_pairs)
        d_all.append(d_pairs)
        want_all.append(want)
    o_pairs, d_pairs, want = np.concatenate(o_all), np.concatenate(d_all), np.concatenate(want_all)
    apart = o_pairs != d_pairs
    assert np.isfinite(want[apart]).sum() > 20 and (want[apart & np.isfinite(want)] > table.delta).sum() > 10
    got = routes.lookup_distance(o_pairs[apart], d_pairs[apart])
    np.testing.assert_allclose(got, want[apart], rtol=1e-5, atol=1e-3)
    dist, _ = routes.lookup(o_pairs, d_pairs)
    np.testing.assert_allclose(dist, want, rtol=1e-5, atol=1e-3)
    # Without the fallback the same pairs beyond 300 m are unknown.
    assert np.isinf(table.lookup_distance(o_pairs[apart], d_pairs[apart])[want[apart] > 301.0]).all()
    ok = np.isfinite(want) & apart
    pair, edges = routes.route_edges(net, o_pairs[ok], d_pairs[ok])
    lengths = np.bincount(pair, weights=np.maximum(net.edge_length[edges], 1e-3), minlength=int(ok.sum()))
    np.testing.assert_allclose(lengths, want[ok], rtol=1e-4, atol=0.01)
    same = pair[1:] == pair[:-1]
    assert np.all(net.edge_to[edges[:-1]][same] == net.edge_from[edges[1:]][same])
    assert np.all(net.edge_from[edges[np.r_[True, ~same]]] == o_pairs[ok])
    assert np.all(net.edge_to[edges[np.r_[~same, True]]] == d_pairs[ok])


def test_gap_routes_arguments() -> None:
    net = load_network(helsinki_pbf())
    graph = NodeGraph.of(net)
    node = np.array([0])
    with pytest.raises(ValueError, match="one origin set"):
        gap_routes(graph, [node, node], [node], np.array([100.0, 100.0]))
    assert gap_routes(graph, [], [], np.zeros(0)) is None
    assert gap_routes(graph, [node], [node], np.array([500.0])) is None, "a node to itself is no route"
    table = RouteTable.build(net, 200.0)
    assert table.with_fallback(None) is table


def test_gap_steps_are_unbroken_gaps_whose_route_may_outrun_the_table() -> None:
    p = MatchParams(sigma_z=5.0, breakage_distance=2000.0)
    restart = np.array([True, False, False, False, True, False])
    raw_dt = np.array([0.0, 120.0, 1.0, 20.0, 120.0, 40.0])
    interval = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 30.0])
    gc = np.array([0.0, 1500.0, 1500.0, 100.0, 3000.0, 1000.0])
    dt = np.array([0.0, 120.0, 120.0, 20.0, 120.0, 40.0])
    # Row 1: a 2-minute gap; row 2 no gap (a thinned standstill before it); row 3 a gap whose
    # longest route (the 2000 m last resort) fits a 2000 m table but not a 1000 m one; rows 0
    # and 4 break the trace; row 5 is 40 s after a fix of a trace sampled every 30 s (no fix
    # missing: no gap).
    assert gap_steps(restart, raw_dt, interval, gc, dt, params=p, delta=1000.0).tolist() == [1, 3]
    assert gap_steps(restart, raw_dt, interval, gc, dt, params=p, delta=2000.0).tolist() == [1]
    assert gap_steps(restart, raw_dt, interval, gc, dt, params=p, delta=1e6).tolist() == []
    sparse_gap = raw_dt.copy()
    sparse_gap[5] = 61.0
    assert gap_steps(restart, sparse_gap, interval, gc, dt, params=p, delta=1000.0).tolist() == [1, 3, 5]
