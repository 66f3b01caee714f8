"""Helpers for the map-matching tests: traces driven through the digits of a drawn map."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ingest.mapmatch import MapMatcher, MatchParams, MatchResult, Trace
from ingest.mapmatch.route_table import RouteTable
from ingest.tests.roadnet.ascii_map import DrawnMap


def drive_through(
    drawn: DrawnMap,
    labels: str,
    *,
    speed: float = 8.0,
    hz: float = 1.0,
    sigma: float = 0.0,
    seed: int = 0,
    t0: float = 1_700_000_000.0,
) -> Trace:
    """A trace passing the digit points ``labels`` in order in straight lines at ``speed`` m/s."""
    pts = drawn.xy(labels)
    seg = np.hypot(*np.diff(pts, axis=0).T)
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    s = np.arange(0.0, cum[-1] + 1e-9, speed / hz)
    if s[-1] < cum[-1]:
        s = np.append(s, cum[-1])
    x = np.interp(s, cum, pts[:, 0])
    y = np.interp(s, cum, pts[:, 1])
    xy = np.column_stack([x, y]) + np.random.default_rng(seed).normal(0.0, sigma, (len(s), 2))
    return Trace(t=t0 + s / speed, xy=xy)


def match(drawn: DrawnMap, trace: Trace, **params: float) -> MatchResult:
    net = drawn.network
    p = MatchParams(**params)  # type: ignore[arg-type]
    return MapMatcher(net, p, RouteTable.build(net, p.route_table_delta)).match(trace)


def path_names(drawn: DrawnMap, result: MatchResult) -> list[str]:
    """Street names along the matched path, consecutive repeats folded."""
    names = drawn.network.edge_names(result.path_edges)
    return [n for i, n in enumerate(names) if i == 0 or n != names[i - 1]]


def fix_names(drawn: DrawnMap, result: MatchResult) -> list[str]:
    return [drawn.network.names[drawn.network.edge_name[e]] if e >= 0 else "" for e in result.edge.tolist()]


Float = npt.NDArray[np.float64]
