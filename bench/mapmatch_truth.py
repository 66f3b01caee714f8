"""Ground-truth traces for the map-matching benchmark: random legal drives with GNSS noise.

A small stand-in for the simulators (which may replace it): a random walk over the directed
graph that never turns back except at dead ends, driven with a speed profile (accelerate to a
share of the speed limit, slow for turns, stop now and then as at delivery points), sampled at
1 Hz, blurred with Gaussian noise of ``sigma`` metres per axis, then subsampled.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ingest.roadnet import RoadNetwork

Float = npt.NDArray[np.float64]
Int = npt.NDArray[np.int64]


@dataclass(frozen=True)
class TruthTrace:
    """A noisy trace and what produced it."""

    t: Float
    xy: Float  # noisy fixes, local metres
    edge: Int  # true edge per fix
    offset: Float  # true offset per fix
    route: Int  # the true edge sequence driven


def random_route(net: RoadNetwork, rng: np.random.Generator, length_m: float) -> Int:
    """Edges of a random legal drive of about ``length_m`` metres (no U-turns but at dead ends)."""
    e = int(rng.integers(net.n_edges))
    route = [e]
    total = float(net.edge_length[e])
    while total < length_m:
        node = int(net.edge_to[e])
        out = net.out_edges[net.out_offsets[node] : net.out_offsets[node + 1]]
        onward = out[out != net.reverse_edge[e]]
        choices = onward if len(onward) else out
        if len(choices) == 0:
            break
        e = int(rng.choice(choices))
        route.append(e)
        total += float(net.edge_length[e])
    return np.asarray(route, dtype=np.int64)


def drive(
    net: RoadNetwork,
    rng: np.random.Generator,
    length_m: float = 3000.0,
    stop_every_m: float = 600.0,
    stop_s: tuple[float, float] = (5.0, 60.0),
) -> tuple[Float, Int, Float, Int]:
    """1 Hz truth along a random route: times, edges, offsets and the route."""
    route = random_route(net, rng, length_m)
    lengths = net.edge_length[route]
    ends = np.cumsum(lengths)
    total = float(ends[-1])
    # Vans drive living streets ("walk") at a crawl, not at walking pace; cap fast roads at 60.
    limit = np.clip(net.edge_maxspeed[route].astype(np.float64), 15.0, 60.0) / 3.6
    share = rng.uniform(0.6, 0.95)
    pos = [0.0]
    t = 0.0
    v = 0.0
    next_stop = rng.exponential(stop_every_m)
    while pos[-1] < total - 0.01:
        i = min(int(np.searchsorted(ends, pos[-1], side="right")), len(route) - 1)
        to_end = ends[i] - pos[-1]
        target = share * limit[i]
        if to_end < 25.0:
            target = min(target, 6.0 + to_end * 0.3)  # slow for the junction
        v = min(target, v + 2.0) if v < target else max(target, v - 3.0)
        if pos[-1] >= next_stop:
            for _ in range(int(rng.uniform(*stop_s))):
                pos.append(pos[-1])
                t += 1
            next_stop = pos[-1] + rng.exponential(stop_every_m)
            v = 0.0
        pos.append(min(total, pos[-1] + max(v, 0.5)))
        t += 1
    p = np.asarray(pos)
    at = np.minimum(np.searchsorted(ends, p, side="right"), len(route) - 1)
    offset = p - (ends[at] - lengths[at])
    return np.arange(len(p), dtype=np.float64), route[at], offset, route


def truth_trace(
    net: RoadNetwork,
    rng: np.random.Generator,
    sigma: float,
    interval_s: float = 1.0,
    length_m: float = 3000.0,
) -> TruthTrace:
    """A random drive, sampled every ``interval_s`` seconds with noise ``sigma`` metres."""
    t, edge, offset, route = drive(net, rng, length_m)
    step = max(1, round(interval_s))
    take = np.arange(0, len(t), step)
    if take[-1] != len(t) - 1:
        take = np.append(take, len(t) - 1)
    true_xy = net.point_at(edge[take], offset[take])
    noisy = true_xy + rng.normal(0.0, sigma, size=true_xy.shape)
    return TruthTrace(t=t[take], xy=noisy, edge=edge[take], offset=offset[take], route=route)


def route_mismatch(net: RoadNetwork, truth: Int, matched: Int) -> float:
    """Newson & Krumm's route mismatch: (length wrongly added + wrongly omitted) / true length.

    Routes are compared as multisets of directed edges (an edge driven twice counts twice).
    """
    n = net.n_edges
    true_count = np.bincount(truth, minlength=n)
    matched_count = np.bincount(matched[matched >= 0], minlength=n)
    added = np.maximum(matched_count - true_count, 0) @ net.edge_length
    omitted = np.maximum(true_count - matched_count, 0) @ net.edge_length
    true_length = true_count @ net.edge_length
    return float((added + omitted) / true_length) if true_length > 0 else 0.0
