"""The road network as NumPy arrays: a directed graph of OSM way pieces between intersections.

See the package docstring (:mod:`ingest.roadnet`) for the meaning of every array.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np
import numpy.typing as npt

from ingest.roadnet.projection import LocalProjection
from ingest.roadnet.spatial_index import NearEdges, SpatialIndex

Float = npt.NDArray[np.float64]
Int = npt.NDArray[np.int64]

#: Arrays saved in the disk cache, by field name (everything but projection, names, index).
ARRAY_FIELDS = (
    "node_osm_id",
    "node_lonlat",
    "node_xy",
    "edge_from",
    "edge_to",
    "edge_id",
    "edge_way",
    "edge_length",
    "edge_class",
    "edge_maxspeed",
    "edge_name",
    "reverse_edge",
    "edge_geom_offsets",
    "geom_xy",
    "geom_cum",
    "out_offsets",
    "out_edges",
)


@dataclass
class RoadNetwork:
    """A drivable directed road graph (see :mod:`ingest.roadnet` for the fields)."""

    projection: LocalProjection
    node_osm_id: Int
    node_lonlat: Float
    node_xy: Float
    edge_from: Int
    edge_to: Int
    edge_id: Int
    edge_way: Int
    edge_length: Float
    edge_class: npt.NDArray[np.uint8]
    edge_maxspeed: npt.NDArray[np.float32]
    edge_name: npt.NDArray[np.int32]
    reverse_edge: Int
    edge_geom_offsets: Int
    geom_xy: Float
    geom_cum: Float
    out_offsets: Int
    out_edges: Int
    names: list[str]
    class_names: tuple[str, ...]
    index: SpatialIndex = field(init=False, repr=False)
    _global_cum: Float = field(init=False, repr=False)
    _edge_base: Float = field(init=False, repr=False)

    def __post_init__(self) -> None:
        lens = np.diff(self.edge_geom_offsets)
        # A strictly increasing key over all vertices of all edges, for vectorised point_at.
        self._edge_base = np.concatenate([[0.0], np.cumsum(self.edge_length + 1.0)[:-1]])
        self._global_cum = self.geom_cum + np.repeat(self._edge_base, lens)
        canonical = (self.reverse_edge < 0) | (np.arange(self.n_edges) < self.reverse_edge)
        last = np.zeros(len(self.geom_xy), dtype=np.bool_)
        last[self.edge_geom_offsets[1:] - 1] = True
        vertex_edge = np.repeat(np.arange(self.n_edges, dtype=np.int64), lens)
        start = np.flatnonzero(~last & canonical[vertex_edge])
        self.index = SpatialIndex(
            piece_a=self.geom_xy[start],
            piece_b=self.geom_xy[start + 1],
            piece_edge=vertex_edge[start],
            piece_offset=self.geom_cum[start],
            edge_length=self.edge_length,
            reverse_edge=self.reverse_edge,
        )

    @property
    def n_nodes(self) -> int:
        return len(self.node_xy)

    @property
    def n_edges(self) -> int:
        return len(self.edge_from)

    def to_xy(self, lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[Float, Float]:
        """Local metres (x east, y north) of WGS84 degrees."""
        return self.projection.to_xy(lon, lat)

    def to_lonlat(self, x: npt.ArrayLike, y: npt.ArrayLike) -> tuple[Float, Float]:
        """WGS84 degrees of local metres."""
        return self.projection.to_lonlat(x, y)

    def edges_near(self, xy: npt.ArrayLike, radius: float) -> NearEdges:
        """Every directed edge within ``radius`` metres of each point (see :class:`NearEdges`)."""
        return self.index.edges_near(xy, radius)

    def point_at(self, edge: npt.ArrayLike, offset: npt.ArrayLike) -> Float:
        """(M, 2) local metres of the points ``offset`` metres along ``edge`` (broadcast, clipped)."""
        e, o = np.broadcast_arrays(np.asarray(edge, dtype=np.int64), np.asarray(offset, dtype=np.float64))
        e = e.ravel()
        o = np.clip(o.ravel(), 0.0, self.edge_length[e])
        first = self.edge_geom_offsets[e]
        v = np.searchsorted(self._global_cum, self._edge_base[e] + o, side="right") - 1
        v = np.clip(v, first, self.edge_geom_offsets[e + 1] - 2)
        piece = self.geom_cum[v + 1] - self.geom_cum[v]
        t = np.clip((o - self.geom_cum[v]) / np.where(piece > 0, piece, 1.0), 0.0, 1.0)
        out: Float = self.geom_xy[v] + t[:, None] * (self.geom_xy[v + 1] - self.geom_xy[v])
        return out

    def edge_geometry(self, edge: int) -> Float:
        """(n, 2) local metres of one edge's polyline, in its direction of travel."""
        return self.geom_xy[self.edge_geom_offsets[edge] : self.edge_geom_offsets[edge + 1]]

    def edge_names(self, edges: npt.ArrayLike) -> list[str]:
        """Street names of edges."""
        return [self.names[i] for i in self.edge_name[np.asarray(edges, dtype=np.int64)].tolist()]

    def arrays(self) -> dict[str, npt.NDArray[np.generic]]:
        """The array fields by name (what the disk cache stores)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name in ARRAY_FIELDS}
