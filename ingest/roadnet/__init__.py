"""The drivable road network: an OSM PBF extract as a directed graph of NumPy arrays.

    >>> net = load_network(helsinki_pbf())          # ~0.1 s from the disk cache
    >>> near = net.edges_near(net.node_xy[0], 30.0)  # edges within 30 m, both directions
    >>> net.point_at(near.edge, near.offset)         # the snapped points again

Nodes are intersections (nodes shared by several ways), way ends, and the last nodes of a way
before it leaves the extract; edges are the pieces of ways between them, one per direction of
travel a van may use (one-ways, ``junction=roundabout`` and motorways get one edge).

``RoadNetwork`` arrays (N nodes, E directed edges, G geometry vertices):

=====================  ============  ==========================================================
name                   shape, dtype  meaning
=====================  ============  ==========================================================
``node_osm_id``        (N,) int64    OSM node id
``node_lonlat``        (N, 2) f8     WGS84 degrees
``node_xy``            (N, 2) f8     metres east/north in ``projection`` (``to_xy``/``to_lonlat``)
``edge_from/_to``      (E,) int64    node indices, in the direction of travel
``edge_id``            (E,) int64    stable id: hash of (OSM way id, from OSM node, to OSM node)
``edge_way``           (E,) int64    OSM way id
``edge_length``        (E,) f8       metres along the geometry
``edge_class``         (E,) uint8    index into ``class_names`` (``highway=*`` value)
``edge_maxspeed``      (E,) f4       km/h, the class default when untagged
``edge_name``          (E,) int32    index into ``names`` (``name``, else ``ref``, else "")
``reverse_edge``       (E,) int64    the opposite direction of a two-way edge, else -1
``edge_geom_offsets``  (E+1,) int64  CSR into ``geom_xy``: edge e is ``[off[e]:off[e+1]]``
``geom_xy``            (G, 2) f8     polyline vertices in travel direction, local metres
``geom_cum``           (G,) f8       metres from the edge's start to each vertex
``out_offsets``        (N+1,) int64  CSR adjacency: edges leaving node n are
``out_edges``          (E,) int64    ``out_edges[out_offsets[n]:out_offsets[n+1]]``
=====================  ============  ==========================================================

Methods: ``edges_near(xy, radius)`` (grid spatial index, batched), ``point_at(edge, offset)``,
``edge_geometry(edge)``, ``edge_names(edges)``. ``store_network(conn, net)`` writes
``road_segments`` in PostGIS (migration ``0020_road_segments``).
"""

from ingest.roadnet.loader import load_network
from ingest.roadnet.network import RoadNetwork
from ingest.roadnet.sources import helsinki_pbf, monaco_pbf
from ingest.roadnet.spatial_index import NearEdges
from ingest.roadnet.store import store_network

__all__ = ["NearEdges", "RoadNetwork", "helsinki_pbf", "load_network", "monaco_pbf", "store_network"]
