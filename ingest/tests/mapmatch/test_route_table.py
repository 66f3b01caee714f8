"""The upper-bounded origin–destination table agrees with plain Dijkstra on a real network."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse  # type: ignore[import-untyped]
import scipy.sparse.csgraph  # type: ignore[import-untyped]

from ingest.mapmatch.route_table import RouteTable, cached_route_table, shortest_edge_between
from ingest.roadnet import helsinki_pbf, load_network


def test_lookups_and_routes_match_dijkstra() -> None:
    net = load_network(helsinki_pbf())
    delta = 800.0
    table = RouteTable.build(net, delta)
    key, edge = shortest_edge_between(net)
    src, dst = np.divmod(key, net.n_nodes)
    off = src != dst
    graph = scipy.sparse.csr_matrix(
        (np.maximum(net.edge_length[edge][off], 1e-3), (src[off], dst[off])), shape=(net.n_nodes,) * 2
    )
    rng = np.random.default_rng(3)
    origins = rng.integers(0, net.n_nodes, 40)
    full = scipy.sparse.csgraph.dijkstra(graph, indices=origins)
    for i, o in enumerate(origins.tolist()):
        dest = np.arange(net.n_nodes)
        dist, _ = table.lookup(np.full(net.n_nodes, o), dest)
        expected = np.where(full[i] <= delta, full[i], np.inf)
        np.testing.assert_allclose(dist, expected, rtol=1e-5, atol=1e-3)
        apart = dest != o
        only_distance = table.lookup_distance(np.full(int(apart.sum()), o), dest[apart])
        np.testing.assert_array_equal(only_distance, dist[apart])
    # Rebuilt routes are connected edge chains of the looked-up length.
    o = np.repeat(origins, 5)
    d = rng.integers(0, net.n_nodes, len(o))
    dist, _ = table.lookup(o, d)
    ok = np.isfinite(dist) & (o != d)
    pair, edges = table.route_edges(net, o[ok], d[ok])
    lengths = np.bincount(pair, weights=np.maximum(net.edge_length[edges], 1e-3), minlength=int(ok.sum()))
    np.testing.assert_allclose(lengths, dist[ok], rtol=1e-4, atol=0.01)
    same = pair[1:] == pair[:-1]
    assert np.all(net.edge_to[edges[:-1]][same] == net.edge_from[edges[1:]][same])
    assert np.all(net.edge_from[edges[np.r_[True, ~same]]] == o[ok])


def test_disk_cache_keeps_occupied_slots_only_and_reads_old_files(tmp_path: Path) -> None:
    net = load_network(helsinki_pbf())
    table = RouteTable.build(net, 500.0)
    path = tmp_path / "t.npz"
    table.save(path)
    with np.load(path) as data:
        assert len(data["keys"]) == int((table.keys != -1).sum()) < len(table.keys)
    again = RouteTable.load(path)
    for name in ("keys", "dist", "last_edge"):
        np.testing.assert_array_equal(getattr(again, name), getattr(table, name))
    assert (again.n_nodes, again.bits, again.delta) == (table.n_nodes, table.bits, table.delta)
    # A file of the full arrays (as written before) still loads, and the cache rewrites it.
    old = tmp_path / "old.npz"
    np.savez(
        old,
        meta=np.array([table.n_nodes, table.bits]),
        delta=np.array([table.delta]),
        keys=table.keys,
        dist=table.dist,
        last_edge=table.last_edge,
    )
    np.testing.assert_array_equal(RouteTable.load(old).keys, table.keys)
    folder = tmp_path / "cache"
    fresh = cached_route_table(net, 500.0, folder)
    (cached,) = folder.iterdir()
    old.replace(cached)
    reread = cached_route_table(net, 500.0, folder)
    np.testing.assert_array_equal(reread.dist, fresh.dist)
    with np.load(cached) as data:
        assert "slots" in data.files


def test_dense_and_hashed_readings_of_a_table_agree() -> None:
    """A small network's table is read from a dense node × node matrix: the same metres and last
    edges as probing the hash table, for every pair, equal nodes and the fallback's pairs too."""
    net = load_network(helsinki_pbf())
    table = RouteTable.build(net, 800.0)
    assert table._dense() is not None
    origin, destination = (a.ravel() for a in np.meshgrid(np.arange(net.n_nodes), np.arange(net.n_nodes)))
    key = origin * net.n_nodes + destination
    dist, last = table.lookup(origin, destination)
    probed, probed_last = table._probe(origin, destination, key)
    np.testing.assert_array_equal(dist, probed)
    np.testing.assert_array_equal(last, probed_last)
    apart = origin != destination
    np.testing.assert_array_equal(table.lookup_distance(origin[apart], destination[apart]), probed[apart])
    assert np.isfinite(dist).sum() > net.n_nodes and (last >= 0).sum() > 0
    # Pairs beyond this table come from its fallback table of longer routes.
    longer = RouteTable.build(net, 1500.0)
    both = table.with_fallback(longer)
    np.testing.assert_array_equal(both.lookup(origin, destination)[0], longer.lookup(origin, destination)[0])
