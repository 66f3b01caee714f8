"""A uniform-grid spatial index over road geometry: which edges pass within a radius of a point.

Each straight piece of an edge's polyline is registered in every grid cell its bounding box
touches; a query gathers the pieces of the cells around each point, measures point-to-piece
distances and keeps, per (point, edge), the nearest. Everything is batched over points.

Only one direction of each two-way street is indexed; queries return both directions, with
offsets measured along each direction of travel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Float = npt.NDArray[np.float64]
Int = npt.NDArray[np.int64]


@dataclass(frozen=True)
class NearEdges:
    """Edges near query points, sorted by point then distance, the two directions of a street next
    to each other: one row per (point, directed edge), or one per pass when an edge winds back
    near the point.

    Attributes
    ----------
    point : index of the query point.
    edge : directed edge index.
    distance : metres from the point to the edge's polyline.
    offset : metres along the edge (in its direction of travel) to the nearest point.
    snapped : (M, 2) the nearest point on the edge, in local metres.
    """

    point: Int
    edge: Int
    distance: Float
    offset: Float
    snapped: Float


def expand_ranges(start: Int, count: Int) -> tuple[Int, Int]:
    """For ranges ``start[i]:start[i]+count[i]``: (owner index i, value) of every element, flat."""
    owner = np.repeat(np.arange(len(count), dtype=np.int64), count)
    first = np.cumsum(count) - count
    values = np.arange(int(count.sum()), dtype=np.int64) - np.repeat(first - start, count)
    return owner, values


class SpatialIndex:
    """Grid index of polyline pieces.

    Parameters
    ----------
    piece_a, piece_b : (P, 2) piece endpoints, in the indexed edge's direction of travel.
    piece_edge : (P,) the edge owning each piece.
    piece_offset : (P,) metres from the edge start to ``piece_a``.
    edge_length, reverse_edge : per directed edge, to report the opposite direction.
    cell_size : grid cell side in metres.
    """

    def __init__(
        self,
        *,
        piece_a: Float,
        piece_b: Float,
        piece_edge: Int,
        piece_offset: Float,
        edge_length: Float,
        reverse_edge: Int,
        cell_size: float = 50.0,
    ) -> None:
        self.piece_a = piece_a
        self.piece_b = piece_b
        self.piece_edge = piece_edge
        self.piece_offset = piece_offset
        self.edge_length = edge_length
        self.reverse_edge = reverse_edge
        self.cell_size = float(cell_size)
        lo = np.minimum(piece_a, piece_b)
        hi = np.maximum(piece_a, piece_b)
        self.origin = (lo.min(axis=0) if len(lo) else np.zeros(2)) - cell_size
        top = (hi.max(axis=0) if len(hi) else np.zeros(2)) + cell_size
        self.width, self.height = (np.floor((top - self.origin) / cell_size).astype(np.int64) + 1).tolist()
        c0 = self._cell_xy(lo)
        c1 = self._cell_xy(hi)
        ncx = c1[:, 0] - c0[:, 0] + 1
        ncy = c1[:, 1] - c0[:, 1] + 1
        piece, k = expand_ranges(np.zeros(len(ncx), dtype=np.int64), ncx * ncy)
        cx = c0[piece, 0] + k % ncx[piece]
        cy = c0[piece, 1] + k // ncx[piece]
        cell = cy * self.width + cx
        order = np.argsort(cell, kind="stable")
        self.cell_pieces = piece[order]
        # Per piece, in separate contiguous arrays: the query's distance test touches only these.
        ab = piece_b - piece_a
        seg2 = np.einsum("ij,ij->i", ab, ab)
        self._ax, self._ay = np.ascontiguousarray(piece_a[:, 0]), np.ascontiguousarray(piece_a[:, 1])
        self._abx, self._aby = np.ascontiguousarray(ab[:, 0]), np.ascontiguousarray(ab[:, 1])
        self._inv_seg2 = np.where(seg2 > 0, 1.0 / np.where(seg2 > 0, seg2, 1.0), 0.0)
        self._seg_len = np.sqrt(seg2)
        counts = np.bincount(cell, minlength=self.width * self.height)
        self.cell_offsets = np.zeros(self.width * self.height + 1, dtype=np.int64)
        np.cumsum(counts, out=self.cell_offsets[1:])

    def _cell_xy(self, xy: Float) -> Int:
        return np.floor((xy - self.origin) / self.cell_size).astype(np.int64)

    def edges_near(self, xy: npt.ArrayLike, radius: float) -> NearEdges:
        """Every directed edge within ``radius`` metres of each point of ``xy`` ((P, 2) or (2,))."""
        pts = np.atleast_2d(np.asarray(xy, dtype=np.float64))
        limit = np.array([self.width - 1, self.height - 1])
        c0 = np.clip(self._cell_xy(pts - radius), 0, limit)
        c1 = np.clip(self._cell_xy(pts + radius), 0, limit)
        ncx = np.maximum(c1[:, 0] - c0[:, 0] + 1, 0)
        ncy = np.maximum(c1[:, 1] - c0[:, 1] + 1, 0)
        inside = np.all(np.isfinite(pts), axis=1)
        point, k = expand_ranges(np.zeros(len(pts), dtype=np.int64), np.where(inside, ncx * ncy, 0))
        cell = (c0[point, 1] + k // ncx[point]) * self.width + c0[point, 0] + k % ncx[point]
        start = self.cell_offsets[cell]
        owner, slot = expand_ranges(start, self.cell_offsets[cell + 1] - start)
        point = point[owner]
        piece = self.cell_pieces[slot]
        # Distance test on flat x / y arrays (most pieces of the cells are out of the radius);
        # the rest of the work is done on the pieces within it only.
        px = np.ascontiguousarray(pts[:, 0])[point]
        py = np.ascontiguousarray(pts[:, 1])[point]
        apx = px - self._ax[piece]
        apy = py - self._ay[piece]
        abx, aby = self._abx[piece], self._aby[piece]
        t = np.clip((apx * abx + apy * aby) * self._inv_seg2[piece], 0.0, 1.0)
        dx = apx - t * abx
        dy = apy - t * aby
        d2 = dx * dx + dy * dy
        keep = np.flatnonzero(d2 <= radius * radius)
        point, piece, t = point[keep], piece[keep], t[keep]
        dist = np.sqrt(d2[keep])
        snapped = np.column_stack([px[keep] - dx[keep], py[keep] - dy[keep]])
        edge = self.piece_edge[piece]
        offset = self.piece_offset[piece] + t * self._seg_len[piece]
        # One row per local minimum of the distance along each edge: an edge that winds back
        # near the point (a hairpin, a bend) yields one row per pass, so the right pass is not
        # lost to a closer wrong one.
        # Sort by (point, edge, offset) with one float key: exact for point × edge below 2^35,
        # offsets to half a metre (ample to find minima between pieces metres apart).
        order = np.argsort((point * len(self.edge_length) + edge) * 262_144.0 + offset)
        point, edge, offset, dist, snapped = (
            point[order],
            edge[order],
            offset[order],
            dist[order],
            snapped[order],
        )
        same_prev = np.zeros(len(point), dtype=np.bool_)
        same_prev[1:] = (point[1:] == point[:-1]) & (edge[1:] == edge[:-1])
        same_next = np.zeros(len(point), dtype=np.bool_)
        same_next[:-1] = same_prev[1:]
        d_prev = np.concatenate([[np.inf], dist[:-1]])
        d_next = np.concatenate([dist[1:], [np.inf]])
        o_prev = np.concatenate([[-np.inf], offset[:-1]])
        # Local minima of the distance along the edge; a tie with the previous piece (the shared
        # vertex) keeps only the first.
        is_min = (~same_prev | (dist < d_prev) | ((dist == d_prev) & (offset - o_prev > 1.0))) & (
            ~same_next | (dist <= d_next)
        )
        point, edge, dist, offset, snapped = (
            point[is_min],
            edge[is_min],
            dist[is_min],
            offset[is_min],
            snapped[is_min],
        )
        # The opposite direction of a two-way street goes right after it, then a stable sort by
        # (point, distance) keeps the two next to each other.
        rev = self.reverse_edge[edge]
        two_way = rev >= 0
        at = np.arange(len(edge)) + np.cumsum(two_way) - two_way
        n = len(edge) + int(two_way.sum())
        fwd_at, rev_at = at, at[two_way] + 1
        out_point = np.empty(n, dtype=np.int64)
        out_edge = np.empty(n, dtype=np.int64)
        out_dist = np.empty(n)
        out_offset = np.empty(n)
        out_snapped = np.empty((n, 2))
        out_point[fwd_at], out_point[rev_at] = point, point[two_way]
        out_edge[fwd_at], out_edge[rev_at] = edge, rev[two_way]
        out_dist[fwd_at], out_dist[rev_at] = dist, dist[two_way]
        out_offset[fwd_at], out_offset[rev_at] = offset, self.edge_length[rev[two_way]] - offset[two_way]
        out_snapped[fwd_at], out_snapped[rev_at] = snapped, snapped[two_way]
        point, edge, dist, offset, snapped = out_point, out_edge, out_dist, out_offset, out_snapped
        scale = 2.0 ** np.ceil(np.log2(radius + 2.0))
        order = np.argsort(point * scale + dist, kind="stable")
        return NearEdges(
            point=point[order],
            edge=edge[order],
            distance=dist[order],
            offset=np.clip(offset[order], 0.0, self.edge_length[edge[order]]),
            snapped=snapped[order],
        )
