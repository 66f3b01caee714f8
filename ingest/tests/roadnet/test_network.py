"""The road network built from the real Helsinki and Monaco extracts, and from drawn maps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ingest.roadnet import RoadNetwork, helsinki_pbf, load_network, monaco_pbf
from ingest.roadnet.loader import cache_path
from ingest.tests.roadnet.ascii_map import draw


@pytest.fixture(scope="module", params=["helsinki", "monaco"])
def net(request: pytest.FixtureRequest) -> RoadNetwork:
    return load_network(helsinki_pbf() if request.param == "helsinki" else monaco_pbf())


def test_edges_join_their_nodes_along_their_geometry(net: RoadNetwork) -> None:
    first = net.edge_geom_offsets[:-1]
    last = net.edge_geom_offsets[1:] - 1
    assert np.all(last > first)
    np.testing.assert_allclose(net.geom_xy[first], net.node_xy[net.edge_from])
    np.testing.assert_allclose(net.geom_xy[last], net.node_xy[net.edge_to])
    steps = np.hypot(*np.diff(net.geom_xy, axis=0).T)
    steps[last[:-1]] = 0.0
    np.testing.assert_allclose(
        np.add.reduceat(np.append(steps, 0.0), first), net.edge_length, rtol=1e-9, atol=1e-6
    )


def test_reverse_edges_pair_up_with_reversed_geometry(net: RoadNetwork) -> None:
    two_way = np.flatnonzero(net.reverse_edge >= 0)
    rev = net.reverse_edge[two_way]
    assert np.array_equal(net.reverse_edge[rev], two_way)
    assert np.array_equal(net.edge_from[rev], net.edge_to[two_way])
    np.testing.assert_allclose(net.edge_length[rev], net.edge_length[two_way])
    for e in two_way[:50].tolist():
        np.testing.assert_allclose(net.edge_geometry(int(net.reverse_edge[e]))[::-1], net.edge_geometry(e))
    assert (net.reverse_edge < 0).any(), "real cities have one-way streets"


def test_adjacency_lists_every_edge_under_its_start_node(net: RoadNetwork) -> None:
    assert net.out_offsets[-1] == net.n_edges
    owner = np.repeat(np.arange(net.n_nodes), np.diff(net.out_offsets))
    assert np.array_equal(net.edge_from[net.out_edges], owner)
    assert np.array_equal(np.sort(net.out_edges), np.arange(net.n_edges))


def test_ids_are_unique_and_stable_across_reloads(net: RoadNetwork, tmp_path: Path) -> None:
    assert np.unique(net.edge_id).size == net.n_edges
    assert np.all(net.edge_id >= 0)
    pbf = helsinki_pbf() if net.n_edges == load_network(helsinki_pbf()).n_edges else monaco_pbf()
    fresh = load_network(pbf, use_cache=False)
    assert np.array_equal(fresh.edge_id, net.edge_id)
    assert np.array_equal(fresh.edge_way, net.edge_way)


def test_attributes_are_plausible(net: RoadNetwork) -> None:
    assert np.all(net.edge_length >= 0)
    assert np.all((net.edge_maxspeed >= 5) & (net.edge_maxspeed <= 130))
    assert set(np.unique(net.edge_class).tolist()) <= set(range(len(net.class_names)))
    assert len(net.names) > 20
    lon, lat = net.to_lonlat(net.node_xy[:, 0], net.node_xy[:, 1])
    np.testing.assert_allclose(np.column_stack([lon, lat]), net.node_lonlat, atol=1e-9)


def test_helsinki_has_its_streets() -> None:
    net = load_network(helsinki_pbf())
    assert {"Mannerheimintie", "Aleksanterinkatu"} <= set(net.names)


def test_edges_near_finds_the_edges_through_a_node_and_point_at_inverts_it(net: RoadNetwork) -> None:
    nodes = np.arange(0, net.n_nodes, 7)
    near = net.edges_near(net.node_xy[nodes], 1.0)
    for n in nodes[:200].tolist():
        touching = set(np.flatnonzero((net.edge_from == n) | (net.edge_to == n)).tolist())
        found = set(near.edge[nodes[near.point] == n].tolist())
        assert touching <= found
    np.testing.assert_allclose(net.point_at(near.edge, near.offset), near.snapped, atol=1e-6)
    assert np.all(near.distance <= 1.0)


def test_edges_near_matches_brute_force(net: RoadNetwork) -> None:
    rng = np.random.default_rng(1)
    lo, hi = net.node_xy.min(axis=0), net.node_xy.max(axis=0)
    pts = rng.uniform(lo, hi, size=(40, 2))
    near = net.edges_near(pts, 60.0)
    a = net.geom_xy[:-1]
    b = net.geom_xy[1:]
    vertex_edge = np.repeat(np.arange(net.n_edges), np.diff(net.edge_geom_offsets))[:-1]
    inside = vertex_edge == np.repeat(np.arange(net.n_edges), np.diff(net.edge_geom_offsets))[1:]
    for i, p in enumerate(pts):
        ab = b - a
        t = np.clip(np.einsum("ij,ij->i", p - a, ab) / np.maximum(np.einsum("ij,ij->i", ab, ab), 1e-12), 0, 1)
        d = np.hypot(*(p - (a + t[:, None] * ab)).T)
        expected = set(vertex_edge[inside & (d <= 60.0)].tolist())
        assert set(near.edge[near.point == i].tolist()) == expected


def test_load_uses_the_disk_cache() -> None:
    net = load_network(monaco_pbf())
    assert cache_path(monaco_pbf()).is_file()
    again = load_network(monaco_pbf())
    assert np.array_equal(again.geom_xy, net.geom_xy)
    assert again.names == net.names


def test_one_ways_and_clipped_ways(tmp_path: Path) -> None:
    drawn = draw(
        """
        A-----B-----C
              |
              D-----E
        """,
        {
            "ABC": {"highway": "residential", "name": "Two way"},
            "BD": {"highway": "residential", "name": "One way", "oneway": "yes"},
            "DEX": {"highway": "residential", "name": "Leaves the extract"},
        },
        tmp_path,
        missing="X",
    )
    net = drawn.network
    names = net.edge_names(np.arange(net.n_edges))
    assert sorted(names) == ["Leaves the extract"] * 2 + ["One way"] + ["Two way"] * 4
    one_way = names.index("One way")
    assert net.reverse_edge[one_way] == -1
    assert net.edge_length[one_way] == pytest.approx(20.0, rel=0.01)
    assert net.n_nodes == 5
