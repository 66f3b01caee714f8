"""Adapters running the peer map matchers (fastmm, mappymatch, leuvenmapmatching) on our network.

Each adapter is built once per network and matches traces given in the network's local metres;
it returns, per trace, the traversed edge indices (our ``RoadNetwork`` edges) and the mask of
fixes it matched. Peers are imported lazily: they are in the ``bench`` optional dependencies.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ingest.roadnet import RoadNetwork

Float = npt.NDArray[np.float64]
Int = npt.NDArray[np.int64]


@dataclass(frozen=True)
class PeerMatch:
    path_edges: Int
    matched: npt.NDArray[np.bool_]


def _dedupe(edges: list[int]) -> Int:
    a = np.asarray(edges, dtype=np.int64)
    if len(a) == 0:
        return a
    keep = np.ones(len(a), dtype=np.bool_)
    keep[1:] = a[1:] != a[:-1]
    return a[keep]


class FastmmPeer:
    """fastmm (FMM with a UBODT, C++), shortest-distance transitions."""

    name = "fastmm"

    def __init__(self, net: RoadNetwork, delta: float = 3000.0) -> None:
        import fastmm  # type: ignore[import-untyped,unused-ignore]  # noqa: PLC0415

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
        k: int = 8,
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
        for sub in res.subtrajectories:
            if sub.error_code != fm.MatchErrorCode.SUCCESS:
                continue
            matched[sub.start_index : sub.end_index + 1] = True
            for seg in sub.segments:
                edges.extend(int(e.edge_id) for e in seg.edges)
        return PeerMatch(path_edges=_dedupe(edges), matched=matched)


def peers_available() -> dict[str, bool]:
    out = {}
    for mod in ("fastmm", "mappymatch", "leuvenmapmatching"):
        try:
            __import__(mod)
            out[mod] = True
        except ImportError:
            out[mod] = False
    return out


_ = (Sequence, Path, Any)
