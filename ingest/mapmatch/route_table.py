"""Upper-bounded origin–destination table (UBODT, Yang & Gidofalvi 2018, as in FMM).

For every node, the shortest route length to every node within ``delta`` metres, and the last
edge of that route, precomputed once per network with bounded multi-source Dijkstra (SciPy) and
kept in an open-addressing hash table, so route distances for all candidate pairs of many traces
are one vectorised lookup. Routes are rebuilt backwards edge by edge from ``last_edge``.

Where a dense node × node matrix takes no more memory than the hash table itself (a small
network whose table holds a good share of all node pairs: the Helsinki and Monaco extracts), a
lookup reads that matrix instead, built once from the table on first use: one direct gather per
pair, no hashing and no probing (the same values; Helsinki 30 s: lookups ≈3× cheaper).

A table may carry a ``fallback`` table of the same network, asked for the pairs it does not hold
(:meth:`RouteTable.with_fallback`): the few routes :mod:`.gap_routes` computes across GNSS gaps
longer than ``delta``, without touching the big table.

    >>> table = RouteTable.build(net, delta=3000.0)                       # doctest: +SKIP
    >>> dist, last = table.lookup(np.array([0, 1]), np.array([5, 9]))     # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import scipy.sparse  # type: ignore[import-untyped]
import scipy.sparse.csgraph  # type: ignore[import-untyped]

from ingest.roadnet import RoadNetwork

Float = npt.NDArray[np.float64]
Int = npt.NDArray[np.int64]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
#: Bump when the table a network produces changes.
TABLE_VERSION = "ubodt-1"


def _slot(key: Int, bits: int) -> Int:
    return ((key.astype(np.uint64) * _GOLDEN) >> np.uint64(64 - bits)).astype(np.int64)


def shortest_edge_between(net: RoadNetwork) -> tuple[Int, Int]:
    """Sorted ``from * N + to`` keys of node pairs joined by an edge, and the shortest such edge."""
    key = net.edge_from * net.n_nodes + net.edge_to
    order = np.lexsort((net.edge_length, key))
    first = np.ones(len(order), dtype=np.bool_)
    first[1:] = key[order][1:] != key[order][:-1]
    return key[order][first], order[first]


@dataclass(frozen=True)
class NodeGraph:
    """The network as a node-to-node sparse matrix for SciPy's Dijkstra: the shortest edge
    between each pair of joined nodes (``pair_key`` = ``from * N + to``, sorted; ``pair_edge``)."""

    n_nodes: int
    matrix: scipy.sparse.csr_matrix
    pair_key: Int
    pair_edge: Int

    @classmethod
    def of(cls, net: RoadNetwork) -> NodeGraph:
        n = net.n_nodes
        pair_key, pair_edge = shortest_edge_between(net)
        src, dst = np.divmod(pair_key, max(n, 1))
        weight = np.maximum(net.edge_length[pair_edge], 1e-3)  # a zero would read as "no edge"
        off_diagonal = src != dst
        matrix = scipy.sparse.csr_matrix(
            (weight[off_diagonal], (src[off_diagonal], dst[off_diagonal])), shape=(n, n)
        )
        return cls(n_nodes=n, matrix=matrix, pair_key=pair_key, pair_edge=pair_edge)

    def last_edge(self, via: Int, node: Int) -> Int:
        """The edge a shortest route takes from node ``via`` to the next node ``node``."""
        edge: Int = self.pair_edge[np.searchsorted(self.pair_key, via * self.n_nodes + node)]
        return edge

    def dijkstra(self, sources: Int, limit: float) -> tuple[Float, npt.NDArray[np.int32]]:
        """Route metres (``inf`` beyond ``limit``) and predecessor node (-9999 where none) from
        each of ``sources`` to every node: dense (len(sources), N) arrays."""
        d, pred = scipy.sparse.csgraph.dijkstra(
            self.matrix, directed=True, indices=sources, limit=limit, return_predecessors=True
        )
        return d, pred


@dataclass
class RouteTable:
    """Hash table of (origin node, destination node) → (route metres, last edge)."""

    n_nodes: int
    delta: float
    bits: int
    keys: Int  # -1 where empty
    dist: npt.NDArray[np.float32]
    last_edge: npt.NDArray[np.int32]
    #: Asked for the pairs this table does not hold (same network); not saved with it.
    fallback: RouteTable | None = None
    #: The table as dense ``origin * n_nodes + destination`` arrays (metres, ``inf`` where absent;
    #: last edge, -1), where they are no larger than the hash table (:meth:`_dense`).
    _dense_cache: tuple[npt.NDArray[np.float32], npt.NDArray[np.int32]] | None = field(
        default=None, repr=False, compare=False
    )

    @classmethod
    def build(cls, net: RoadNetwork, delta: float, chunk_cells: int = 20_000_000) -> RouteTable:
        """Bounded Dijkstra from every node; memory per step is ``chunk_cells`` dense cells."""
        n = net.n_nodes
        graph = NodeGraph.of(net)
        keys: list[Int] = []
        dists: list[npt.NDArray[np.float32]] = []
        lasts: list[npt.NDArray[np.int32]] = []
        step = max(1, chunk_cells // max(n, 1))
        for lo in range(0, n, step):
            sources = np.arange(lo, min(n, lo + step))
            d, pred = graph.dijkstra(sources, delta)
            row, col = np.nonzero(np.isfinite(d))
            origin = sources[row]
            reached = col != origin
            row, col, origin = row[reached], col[reached], origin[reached]
            via = pred[row, col].astype(np.int64)
            keys.append(origin * n + col)
            dists.append(d[row, col].astype(np.float32))
            lasts.append(graph.last_edge(via, col).astype(np.int32))
        flat_key = np.concatenate(keys) if keys else np.zeros(0, np.int64)
        flat_dist = np.concatenate(dists) if dists else np.zeros(0, np.float32)
        flat_last = np.concatenate(lasts) if lasts else np.zeros(0, np.int32)
        return cls.from_entries(n, delta, flat_key, flat_dist, flat_last)

    @classmethod
    def from_entries(
        cls,
        n_nodes: int,
        delta: float,
        key: Int,
        dist: npt.NDArray[np.float32],
        last: npt.NDArray[np.int32],
    ) -> RouteTable:
        """A table of the given distinct ``origin * n_nodes + destination`` keys."""
        bits = max(4, int(np.ceil(np.log2(max(2 * len(key), 16)))))
        table = cls(
            n_nodes=n_nodes,
            delta=float(delta),
            bits=bits,
            keys=np.full(1 << bits, -1, dtype=np.int64),
            dist=np.zeros(1 << bits, dtype=np.float32),
            last_edge=np.full(1 << bits, -1, dtype=np.int32),
        )
        table._insert(key, dist, last)
        return table

    def with_fallback(self, fallback: RouteTable | None) -> RouteTable:
        """This table (its arrays shared, not copied) asking ``fallback`` for the pairs it lacks."""
        if fallback is None:
            return self
        table = RouteTable(
            self.n_nodes, self.delta, self.bits, self.keys, self.dist, self.last_edge, fallback
        )
        table._dense_cache = self._dense()
        return table

    def _dense(self) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int32]] | None:
        """The dense arrays (built on first use), or None where they would outgrow the hash table:
        8 bytes per node pair against its 16 per slot."""
        if self._dense_cache is None and self.n_nodes * self.n_nodes <= 2 * len(self.keys):
            occupied = np.flatnonzero(self.keys != -1)
            dist = np.full(self.n_nodes * self.n_nodes, np.inf, dtype=np.float32)
            last = np.full(self.n_nodes * self.n_nodes, -1, dtype=np.int32)
            dist[self.keys[occupied]] = self.dist[occupied]
            last[self.keys[occupied]] = self.last_edge[occupied]
            self._dense_cache = dist, last
        return self._dense_cache

    def _insert(self, key: Int, dist: npt.NDArray[np.float32], last: npt.NDArray[np.int32]) -> None:
        mask = (1 << self.bits) - 1
        slot = _slot(key, self.bits)
        pending = np.arange(len(key))
        while len(pending):
            s = slot[pending]
            # Several pending keys may want one free slot: the first of each claims it.
            free = self.keys[s] == -1
            s_free = s[free]
            _, first = np.unique(s_free, return_index=True)
            winners = pending[free][first]
            self.keys[s_free[first]] = key[winners]
            self.dist[s_free[first]] = dist[winners]
            self.last_edge[s_free[first]] = last[winners]
            placed = np.zeros(len(key), dtype=np.bool_)
            placed[winners] = True
            pending = pending[~placed[pending]]
            slot[pending] = (slot[pending] + 1) & mask

    def __len__(self) -> int:
        return int((self.keys >= 0).sum())

    def lookup_distance(self, origin: Int, destination: Int) -> Float:
        """Route metres only, of pairs of distinct nodes (``inf`` beyond ``delta``): the candidate
        pairs' hot path, which needs no last edge."""
        key = np.asarray(origin, dtype=np.int64) * self.n_nodes + np.asarray(destination, dtype=np.int64)
        dense = self._dense()
        dist = dense[0][key].astype(np.float64) if dense is not None else self._probe_distance(key)
        if self.fallback is not None:
            miss = np.flatnonzero(np.isinf(dist))
            if len(miss):
                dist[miss] = self.fallback.lookup_distance(*np.divmod(key[miss], self.n_nodes))
        return dist

    def _probe_distance(self, key: Int) -> Float:
        """Route metres of ``key`` pairs in the hash table (``inf`` where absent)."""
        dist = np.full(key.shape, np.inf)
        mask = (1 << self.bits) - 1
        pending = np.arange(len(key))
        slot = _slot(key, self.bits)
        while len(pending):
            found_key = self.keys[slot]
            hit = found_key == key[pending]
            dist[pending[hit]] = self.dist[slot[hit]]
            going = ~hit & (found_key != -1)
            pending = pending[going]
            slot = (slot[going] + 1) & mask
        return dist

    def lookup(self, origin: Int, destination: Int) -> tuple[Float, Int]:
        """Route metres (``inf`` beyond ``delta``; 0 when equal) and last edge (-1) per node pair."""
        origin = np.asarray(origin, dtype=np.int64)
        destination = np.asarray(destination, dtype=np.int64)
        key = origin * self.n_nodes + destination
        dense = self._dense()
        if dense is not None:
            # The table holds no pair of equal nodes: those read inf and -1, set to 0 and -1 here.
            dist = np.where(origin == destination, 0.0, dense[0][key])
            last = dense[1][key].astype(np.int64)
        else:
            dist, last = self._probe(origin, destination, key)
        if self.fallback is not None:
            flat_dist = dist.reshape(-1)
            flat_last = last.reshape(-1)
            miss = np.flatnonzero(np.isinf(flat_dist))
            if len(miss):
                flat_dist[miss], flat_last[miss] = self.fallback.lookup(
                    *np.divmod(key.ravel()[miss], self.n_nodes)
                )
        return dist, last

    def _probe(self, origin: Int, destination: Int, key: Int) -> tuple[Float, Int]:
        """:meth:`lookup` in the hash table, without the fallback."""
        dist = np.where(origin == destination, 0.0, np.inf)
        last = np.full(key.shape, -1, dtype=np.int64)
        mask = (1 << self.bits) - 1
        pending = np.flatnonzero((origin != destination).ravel())
        flat_key = key.ravel()
        slot = _slot(flat_key[pending], self.bits)
        flat_dist = dist.reshape(-1)
        flat_last = last.reshape(-1)
        while len(pending):
            found_key = self.keys[slot]
            hit = found_key == flat_key[pending]
            flat_dist[pending[hit]] = self.dist[slot[hit]]
            flat_last[pending[hit]] = self.last_edge[slot[hit]]
            going = ~hit & (found_key != -1)
            pending = pending[going]
            slot = (slot[going] + 1) & mask
        return dist, last

    def route_edges(self, net: RoadNetwork, origin: Int, destination: Int) -> tuple[Int, Int]:
        """Edges of the routes origin[i] → destination[i] (pairs within ``delta``), as (pair, edge)
        rows in travel order."""
        pair_rows: list[Int] = []
        edge_rows: list[Int] = []
        depth_rows: list[Int] = []
        pair = np.arange(len(origin))
        at = np.asarray(destination, dtype=np.int64).copy()
        origin = np.asarray(origin, dtype=np.int64)
        active = at != origin
        depth = 0
        while active.any():
            idx = np.flatnonzero(active)
            _, last = self.lookup(origin[idx], at[idx])
            ok = last >= 0
            idx, last = idx[ok], last[ok]
            pair_rows.append(pair[idx])
            edge_rows.append(last)
            depth_rows.append(np.full(len(idx), depth))
            at[idx] = net.edge_from[last]
            active[:] = False
            active[idx] = at[idx] != origin[idx]
            depth += 1
        if not pair_rows:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        p = np.concatenate(pair_rows)
        e = np.concatenate(edge_rows)
        d = np.concatenate(depth_rows)
        order = np.lexsort((-d, p))
        return p[order], e[order]

    # ---- disk cache ------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        """Write the occupied slots only (their positions, keys and values): a hash table is at
        most half full, so this is 30–60 % of the full arrays."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        occupied = np.flatnonzero(self.keys != -1)
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(
                    f,
                    meta=np.array([self.n_nodes, self.bits], dtype=np.int64),
                    delta=np.array([self.delta]),
                    slots=occupied.astype(np.uint32 if self.bits <= 32 else np.int64),
                    keys=self.keys[occupied],
                    dist=self.dist[occupied],
                    last_edge=self.last_edge[occupied],
                )
            Path(tmp).replace(path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: Path) -> RouteTable:
        """Read :meth:`save`'s file (or the full arrays written before occupied-only files)."""
        with np.load(path, allow_pickle=False) as data:
            n_nodes, bits = data["meta"].tolist()
            delta = float(data["delta"][0])
            if "slots" not in data.files:
                return cls(
                    n_nodes=int(n_nodes),
                    delta=delta,
                    bits=int(bits),
                    keys=data["keys"],
                    dist=data["dist"],
                    last_edge=data["last_edge"],
                )
            slots = data["slots"].astype(np.int64)
            size = 1 << int(bits)
            keys = np.full(size, -1, dtype=np.int64)
            dist = np.zeros(size, dtype=np.float32)
            last = np.full(size, -1, dtype=np.int32)
            keys[slots] = data["keys"]
            dist[slots] = data["dist"]
            last[slots] = data["last_edge"]
            return cls(
                n_nodes=int(n_nodes), delta=delta, bits=int(bits), keys=keys, dist=dist, last_edge=last
            )


def network_fingerprint(net: RoadNetwork) -> str:
    """A short digest of the graph's topology and lengths (keys the route-table cache)."""
    h = hashlib.sha256()
    for a in (net.edge_from, net.edge_to, net.edge_length, net.edge_id):
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:20]


def cached_route_table(net: RoadNetwork, delta: float, folder: Path | None) -> RouteTable:
    """:meth:`RouteTable.build`, through a disk cache in ``folder`` when one is given."""
    if folder is None:
        return RouteTable.build(net, delta)
    path = folder / f"{network_fingerprint(net)}-{delta:.0f}-{TABLE_VERSION}.npz"
    if path.is_file():
        try:
            table = RouteTable.load(path)
        except (OSError, KeyError, ValueError):
            path.unlink(missing_ok=True)
        else:
            with np.load(path, allow_pickle=False) as data:
                full_arrays = "slots" not in data.files
            if full_arrays:  # written before occupied-only files: rewrite it smaller, once
                table.save(path)
            return table
    table = RouteTable.build(net, delta)
    table.save(path)
    return table
