"""A postal round on a real OSM network: depot → N delivery stops along legal routes → depot.

Stops are drawn on the streets where letters go (residential, living streets, service roads,
unclassified and tertiary roads) within the network's largest strongly connected part, so every
stop can be reached and left legally; the depot sits on a service road (or the given point). The
visiting order is nearest-neighbour improved by 2-opt on the asymmetric travel-time matrix (one-
ways make it asymmetric). Legs follow :class:`~simulators.routing.LegalGraph` shortest paths,
and the van is driven along them by :class:`~simulators.trajectory.Trajectory` (accelerate,
cruise at a fraction of each road's limit, brake for corners, bumps and stops), standing 20–180 s
at each stop. Narrow streets get a GNSS canyon factor.

The truth keeps, for every piece of the path, the network edge and where along it the piece
starts, so any sample gives edge and offset; and the stops with their arrival times.

    >>> rnd = plan_round(net, stops=80, seed=1)
    >>> rnd.traj.sample(np.arange(0, rnd.traj.duration, 1.0)).edge
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from ingest.roadnet import RoadNetwork
from simulators.geo import FloatArray, LocalFrame
from simulators.road_profile import Feature, random_features
from simulators.routing import LegalGraph, edge_time_s
from simulators.trajectory import DriveStyle, Stop, Trajectory

DELIVERY_CLASSES = ("residential", "living_street", "service", "unclassified", "tertiary")
NARROW_CLASSES = ("residential", "living_street", "service", "unclassified")
BUMP_SPEED_MS = 4.0


@dataclass(frozen=True, slots=True)
class DeliveryStop:
    edge: int
    offset: float
    dwell_s: float


@dataclass(slots=True)
class Round:
    net: RoadNetwork
    depot: DeliveryStop
    stops: list[DeliveryStop]  # in visiting order
    edges: list[int]  # every edge driven, in order (consecutive duplicates removed)
    traj: Trajectory
    features: list[Feature]
    stop_s: FloatArray  # path distance of each stop
    legs: list[list[int]] = field(default_factory=list)
    outage_edges: list[int] = field(default_factory=list)  # driven under cover: no satellite in view

    @property
    def depot_xy(self) -> FloatArray:
        return np.asarray(self.net.point_at(self.depot.edge, self.depot.offset)[0], dtype=np.float64)


def _pick_edges(
    net: RoadNetwork, ok: npt.NDArray[np.bool_], classes: tuple[str, ...]
) -> npt.NDArray[np.int64]:
    names = np.array(net.class_names)[net.edge_class]
    cand = np.flatnonzero(ok & np.isin(names, classes) & (net.edge_length >= 25.0))
    if len(cand) == 0:
        cand = np.flatnonzero(ok & (net.edge_length >= 10.0))
    return cand.astype(np.int64)


def _leg_cost(
    net: RoadNetwork, time: FloatArray, dist: FloatArray, a: DeliveryStop, b: DeliveryStop
) -> float:
    rest_a = (net.edge_length[a.edge] - a.offset) / net.edge_length[a.edge] * time[a.edge]
    into_b = b.offset / net.edge_length[b.edge] * time[b.edge]
    return float(rest_a + dist[b.edge] - time[b.edge] + into_b)


def _order(cost: FloatArray) -> list[int]:
    """Tour over points 1..n starting and ending at 0: nearest neighbour, then 2-opt."""
    n = len(cost) - 1
    tour = [0]
    left = set(range(1, n + 1))
    while left:
        cur = tour[-1]
        nxt = min(left, key=lambda j: cost[cur, j])
        tour.append(nxt)
        left.remove(nxt)
    tour.append(0)
    t = np.array(tour)
    for _ in range(50):
        fwd = cost[t[:-1], t[1:]]
        bwd = cost[t[1:], t[:-1]]
        pf = np.concatenate([[0.0], np.cumsum(fwd)])
        pb = np.concatenate([[0.0], np.cumsum(bwd)])
        best, best_ij = -1e-6, (0, 0)
        for i in range(1, n):
            js = np.arange(i + 1, n + 1)
            old = fwd[i - 1] + (pf[js] - pf[i]) + fwd[js]
            new = cost[t[i - 1], t[js]] + (pb[js] - pb[i]) + cost[t[i], t[js + 1]]
            gain = new - old
            k = int(np.argmin(gain))
            if gain[k] < best:
                best, best_ij = float(gain[k]), (i, int(js[k]))
        if best_ij == (0, 0):
            break
        lo, hi = best_ij
        t[lo : hi + 1] = t[lo : hi + 1][::-1]
    return [int(v) for v in t[1:-1]]


def _piece(net: RoadNetwork, e: int, o0: float, o1: float) -> FloatArray:
    lo, hi = net.edge_geom_offsets[e], net.edge_geom_offsets[e + 1]
    cum = net.geom_cum[lo:hi]
    inner = net.geom_xy[lo:hi][(cum > o0) & (cum < o1)]
    ends = net.point_at([e, e], [o0, o1])
    return np.concatenate([ends[:1], inner, ends[1:]])


def plan_round(
    net: RoadNetwork,
    stops: int = 80,
    *,
    seed: int = 1,
    depot_xy: tuple[float, float] | None = None,
    dwell_range: tuple[float, float] = (20.0, 180.0),
    style: DriveStyle | None = None,
    potholes_per_km: float = 1.0,
    bumps_per_km: float = 0.3,
    start_dwell_s: float = 60.0,
    outages: int = 2,
) -> Round:
    """``outages`` edges of the route (40–400 m, not at a stop) are driven with no sky at all, as
    under a bridge, a deck or in a tunnel: the OSM extracts carry no tunnel tags, so they are drawn."""
    rng = np.random.default_rng(seed)
    graph = LegalGraph(net)
    ok = graph.in_main_component()
    if depot_xy is None:
        depot_cands = _pick_edges(net, ok, ("service",))
        depot_edge = int(rng.choice(depot_cands))
    else:
        near = net.edges_near(np.array([depot_xy]), 300.0)
        in_main = [int(e) for e in near.edge if ok[int(e)]]
        if not in_main:
            raise ValueError("no road of the connected network within 300 m of the depot")
        depot_edge = in_main[int(np.argmin([near.distance[list(near.edge).index(e)] for e in in_main]))]
    depot = DeliveryStop(depot_edge, float(net.edge_length[depot_edge]) / 2.0, 0.0)

    cands = _pick_edges(net, ok, DELIVERY_CLASSES)
    cands = cands[cands != depot_edge]
    chosen = rng.choice(cands, size=min(stops, len(cands)), replace=stops > len(cands))
    # one stop per edge keeps each leg a proper path; several letters on one street are one stop
    uniq = list(dict.fromkeys(int(e) for e in chosen))
    while len(uniq) < stops:  # a big round on a small map: revisit streets on later passes
        uniq.append(int(rng.choice(cands)))
    points = [depot] + [
        DeliveryStop(e, float(rng.uniform(0.2, 0.8) * net.edge_length[e]), float(rng.uniform(*dwell_range)))
        for e in uniq[:stops]
    ]
    time = edge_time_s(net)
    src = sorted({p.edge for p in points})
    dist, pred = graph.from_edges(src)
    row = {e: i for i, e in enumerate(src)}
    n = len(points)
    cost = np.zeros((n, n))
    for i, a in enumerate(points):
        for j, b in enumerate(points):
            if i != j:
                cost[i, j] = _leg_cost(net, time, dist[row[a.edge]], a, b) if a.edge != b.edge else 1e6
    order = _order(cost)
    visit = [points[k] for k in order]

    # assemble the path leg by leg
    xy: list[FloatArray] = []
    seg_edge: list[int] = []
    seg_start: list[float] = []
    s_total = 0.0
    stop_s: list[float] = []
    legs: list[list[int]] = []
    seq = [depot, *visit, depot]
    for a, b in itertools.pairwise(seq):
        if a.edge == b.edge and b.offset > a.offset:
            edges = [a.edge]
        else:
            edges = LegalGraph.path(pred, row[a.edge], a.edge, b.edge)
        legs.append(edges)
        for k, e in enumerate(edges):
            o0 = a.offset if k == 0 else 0.0
            o1 = b.offset if k == len(edges) - 1 else float(net.edge_length[e])
            if o1 - o0 < 1e-6:
                continue
            piece = _piece(net, e, o0, o1)
            if xy:
                piece = piece[1:]  # shared with the previous piece's end
            start_s = s_total - o0
            seglen = np.hypot(*np.diff(np.concatenate([xy[-1][-1:], piece]) if xy else piece, axis=0).T)
            xy.append(piece)
            seg_edge += [e] * len(seglen)
            seg_start += [start_s] * len(seglen)
            s_total += float(seglen.sum())
        stop_s.append(s_total)
    path = np.concatenate(xy)
    seg_edge_arr = np.asarray(seg_edge, np.int64)
    limits = np.maximum(net.edge_maxspeed[seg_edge_arr].astype(np.float64) / 3.6, 0.5)  # the legal limit
    names = np.array(net.class_names)[net.edge_class[seg_edge_arr]]
    narrow = np.isin(names, NARROW_CLASSES)
    edge_canyon = rng.uniform(0.05, 0.2, net.n_edges)
    edge_canyon_narrow = rng.uniform(0.3, 0.6, net.n_edges)
    canyon = np.where(narrow, edge_canyon_narrow[seg_edge_arr], edge_canyon[seg_edge_arr])
    stop_edges = {p.edge for p in points}
    covered = [
        e
        for e in dict.fromkeys(seg_edge)
        if 40.0 <= net.edge_length[e] <= 400.0
        and e not in stop_edges
        and net.reverse_edge[e] not in stop_edges
    ]
    outage_edges = [int(e) for e in rng.permutation(covered)[:outages]] if covered else []
    tunnel = np.isin(seg_edge_arr, outage_edges)
    features = random_features(s_total, rng, potholes_per_km=potholes_per_km, bumps_per_km=bumps_per_km)
    caps = [(f.s - 12.0, f.s + 4.0, BUMP_SPEED_MS) for f in features if f.kind == "bump"]
    traj_stops = [
        Stop(s, p.dwell_s, f"stop-{i + 1}") for i, (s, p) in enumerate(zip(stop_s[:-1], visit, strict=True))
    ]
    frame = LocalFrame(net.projection.lon0, net.projection.lat0)
    traj = Trajectory.build(
        frame,
        path,
        limits,
        traj_stops,
        style=style,
        rng=rng,
        start_dwell_s=start_dwell_s,
        seg_edge=seg_edge_arr,
        seg_edge_start_s=np.asarray(seg_start),
        seg_canyon=canyon,
        seg_tunnel=tunnel,
        extra_vmax=caps,
    )
    edges_driven = [e for leg in legs for e in leg]
    dedup = [e for i, e in enumerate(edges_driven) if i == 0 or e != edges_driven[i - 1]]
    return Round(net, depot, visit, dedup, traj, features, np.asarray(stop_s[:-1]), legs, outage_edges)
