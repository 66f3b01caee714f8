"""Adapters running the peer map matchers (fastmm, mappymatch, leuvenmapmatching) on our network.

Each adapter is built once per network and matches traces given in the network's local metres;
it returns, per trace, the traversed edge indices (our ``RoadNetwork`` edges) and the mask of
fixes it matched. Peers are imported lazily: they are in the ``bench`` optional dependencies.
"""

from __future__ import annotations

import itertools
import tempfile
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ingest.roadnet import RoadNetwork

Float = npt.NDArray[np.float64]
Int = npt.NDArray[np.int64]


@dataclass(frozen=True)
class PeerMatch:
    path_edges: Int
    matched: npt.NDArray[np.bool_]
    splits: int = 0


def _dedupe(edges: list[int]) -> Int:
    a = np.asarray(edges, dtype=np.int64)
    if len(a) == 0:
        return a
    keep = np.ones(len(a), dtype=np.bool_)
    keep[1:] = a[1:] != a[:-1]
    return a[keep]


class FastmmPeer:
    """fastmm (FMM with a UBODT, C++), shortest-distance transitions.

    Units are the network's local metres throughout (radius, gps_error, reverse_tolerance).
    fastmm takes the ``k`` nearest *directed* edges as candidates, so on our network (both
    directions of every street, 4-5 m dead-end stubs at junctions) its default of 8 covers
    about four streets; it gets the same 20 candidate slots as facteur's matcher
    (``MatchParams.max_candidates``). Its emission uses the perpendicular distance to each
    candidate and the traces carry a 60-s correlated bias, so its best ``gps_error`` lies at
    2-8 σ, not at σ. ``reverse_tolerance`` is in metres in this fastmm (a 15-m step back on a
    1-km edge needs more than 15; older FMM took a fraction of the edge length): at 1 Hz it
    needs several σ, up to 30 σ on Monaco, or standstill jitter backwards becomes a loop around
    the block (its transition probability is 1 for staying put and straight-line/route for a
    detour, so a loop about as long as the jitter costs nearly nothing).
    """

    name = "fastmm"
    max_candidates = 20

    @staticmethod
    def tuning_grid(sigma: float) -> list[tuple[float, float]]:
        """(gps_error, reverse_tolerance) pairs tried per set; the best mismatch is kept."""
        return [(g * sigma, r * sigma) for g in (1.0, 2.0, 3.0, 5.0, 8.0) for r in (5.0, 10.0, 30.0)]

    @staticmethod
    def untuned_setting(sigma: float) -> tuple[float, float]:
        """(gps_error, reverse_tolerance) where a set is not tuned: the one that won most real sets."""
        return 5.0 * sigma, 30.0 * sigma

    def __init__(self, net: RoadNetwork, delta: float = 3000.0) -> None:
        import fastmm  # type: ignore[import-untyped,import-not-found,unused-ignore]  # noqa: PLC0415

        self._fastmm = fastmm
        network = fastmm.Network()
        for e in range(net.n_edges):
            geom = [(float(x), float(y)) for x, y in net.edge_geometry(e)]
            network.add_edge(e, source=int(net.edge_from[e]), target=int(net.edge_to[e]), geom=geom)
        network.finalize()
        self._network = network
        self._cache = tempfile.mkdtemp(prefix="fastmm-ubodt-")
        self.matcher = fastmm.FastMapMatch(
            network,
            fastmm.TransitionMode.SHORTEST,
            max_distance_between_candidates=delta,
            cache_dir=self._cache,
        )

    def match(
        self,
        t: Float,
        xy: Float,
        sigma: float,
        *,
        radius: float = 50.0,
        k: int = max_candidates,
        reverse_tolerance: float = 0.0,
    ) -> PeerMatch:
        fm = self._fastmm
        traj = fm.Trajectory.from_xyt_tuples(
            [(float(x), float(y), float(s)) for (x, y), s in zip(xy, t, strict=True)]
        )
        res = self.matcher.match(
            traj,
            max_candidates=k,
            candidate_search_radius=radius,
            gps_error=sigma,
            reverse_tolerance=reverse_tolerance,
        )
        matched = np.zeros(len(t), dtype=np.bool_)
        edges: list[int] = []
        pieces = 0
        for sub in res.subtrajectories:
            if sub.error_code != fm.MatchErrorCode.SUCCESS:
                continue
            pieces += 1
            matched[sub.start_index : sub.end_index + 1] = True
            for seg in sub.segments:
                edges.extend(int(e.edge_id) for e in seg.edges)
        return PeerMatch(path_edges=_dedupe(edges), matched=matched, splits=max(pieces - 1, 0))


class MappymatchPeer:
    """mappymatch's LCSS matcher on a networkx graph of our edges (EPSG:3857, as it requires)."""

    name = "mappymatch"

    def __init__(self, net: RoadNetwork) -> None:
        import networkx as nx  # type: ignore[import-untyped,import-not-found,unused-ignore]  # noqa: PLC0415
        from mappymatch.maps.nx.nx_map import NxMap  # type: ignore[import-untyped,import-not-found,unused-ignore]  # noqa: PLC0415
        from mappymatch.matchers.lcss.lcss import LCSSMatcher  # type: ignore[import-untyped,import-not-found,unused-ignore]  # noqa: PLC0415
        from mappymatch.utils.crs import XY_CRS  # type: ignore[import-untyped,import-not-found,unused-ignore]  # noqa: PLC0415
        from shapely.geometry import LineString  # type: ignore[import-untyped,import-not-found,unused-ignore]  # noqa: PLC0415

        self.net = net
        g = nx.MultiDiGraph()
        lon, lat = net.to_lonlat(net.geom_xy[:, 0], net.geom_xy[:, 1])
        mx, my = _web_mercator(lon, lat)
        for e in range(net.n_edges):
            lo, hi = int(net.edge_geom_offsets[e]), int(net.edge_geom_offsets[e + 1])
            g.add_edge(
                int(net.edge_from[e]),
                int(net.edge_to[e]),
                key=e,
                geometry=LineString(np.column_stack([mx[lo:hi], my[lo:hi]])),
                kilometers=float(net.edge_length[e]) / 1000.0,
                minutes=float(net.edge_length[e]) / 1000.0 / float(net.edge_maxspeed[e]) * 60.0,
            )
        g.graph["crs"] = XY_CRS
        self.matcher = LCSSMatcher(NxMap(g))

    def match(self, t: Float, xy: Float, sigma: float) -> PeerMatch:
        import geopandas as gpd  # type: ignore[import-untyped,import-not-found,unused-ignore]  # noqa: PLC0415
        from mappymatch.constructs.trace import Trace as MTrace  # type: ignore[import-untyped,import-not-found,unused-ignore]  # noqa: PLC0415
        from mappymatch.utils.crs import XY_CRS  # type: ignore[import-untyped,import-not-found,unused-ignore]  # noqa: PLC0415

        lon, lat = self.net.to_lonlat(xy[:, 0], xy[:, 1])
        mx, my = _web_mercator(lon, lat)
        frame = gpd.GeoDataFrame(geometry=gpd.points_from_xy(mx, my), crs=XY_CRS)
        result = self.matcher.match_trace(MTrace(frame))
        matched = np.array([m.road is not None for m in result.matches], dtype=np.bool_)
        if len(matched) != len(t):
            matched = np.resize(matched, len(t))
        path = [int(r.road_id.key) for r in (result.path or [])]
        return PeerMatch(path_edges=_dedupe(path), matched=matched)


class LeuvenPeer:
    """leuvenmapmatching's DistanceMatcher on an in-memory map of our edge polylines."""

    name = "leuvenmapmatching"

    def __init__(self, net: RoadNetwork) -> None:
        from leuvenmapmatching.map.inmem import InMemMap  # type: ignore[import-untyped,import-not-found,unused-ignore]  # noqa: PLC0415

        self.net = net
        m = InMemMap("facteur", use_latlon=False, use_rtree=False, index_edges=True)
        self.piece_edge: dict[tuple[int, int], int] = {}
        n = net.n_nodes
        for v in range(n):
            m.add_node(v, (float(net.node_xy[v, 1]), float(net.node_xy[v, 0])))
        next_id = n
        for e in range(net.n_edges):
            geom = net.edge_geometry(e)
            ids = [int(net.edge_from[e])]
            for y_x in geom[1:-1]:
                m.add_node(next_id, (float(y_x[1]), float(y_x[0])))
                ids.append(next_id)
                next_id += 1
            ids.append(int(net.edge_to[e]))
            for u, v in itertools.pairwise(ids):
                m.add_edge(u, v)
                self.piece_edge.setdefault((u, v), e)
        self.map = m

    def match(self, t: Float, xy: Float, sigma: float, radius: float = 50.0) -> PeerMatch:
        from leuvenmapmatching.matcher.distance import DistanceMatcher  # type: ignore[import-untyped,import-not-found,unused-ignore]  # noqa: PLC0415

        matcher = DistanceMatcher(
            self.map,
            max_dist=radius,
            obs_noise=sigma,
            obs_noise_ne=2 * sigma,
            non_emitting_states=True,
            max_lattice_width=8,
            dist_noise=sigma,
        )
        path = [(float(y), float(x)) for x, y in xy]
        matcher.match(path)
        matched = np.zeros(len(t), dtype=np.bool_)
        edges: list[int] = []
        for state in matcher.lattice_best or []:
            if state.obs_ne == 0:
                matched[state.obs] = True
            e = self.piece_edge.get((state.edge_m.l1, state.edge_m.l2))
            if e is not None:
                edges.append(e)
        return PeerMatch(path_edges=_dedupe(edges), matched=matched)


def _web_mercator(lon: Float, lat: Float) -> tuple[Float, Float]:
    r = 6_378_137.0
    x = np.deg2rad(lon) * r
    y = np.log(np.tan(np.pi / 4 + np.deg2rad(lat) / 2)) * r
    return x, y


def peers_available() -> dict[str, bool]:
    out = {}
    for mod in ("fastmm", "mappymatch", "leuvenmapmatching"):
        try:
            __import__(mod)
            out[mod] = True
        except ImportError:
            out[mod] = False
    return out
