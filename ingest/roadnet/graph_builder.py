"""Turn drivable OSM ways into a :class:`RoadNetwork`: cut at intersections, orient, index.

A way becomes one edge per stretch between graph nodes (nodes shared by several ways, way ends,
and the last nodes before a reference that the extract does not contain), once per allowed
direction of travel. All steps are array operations over every way at once.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ingest.roadnet import tags as road_tags
from ingest.roadnet.network import RoadNetwork
from ingest.roadnet.osm_reader import RawWays
from ingest.roadnet.projection import LocalProjection
from ingest.roadnet.segment_ids import unique_segment_ids
from ingest.roadnet.spatial_index import expand_ranges

Int = npt.NDArray[np.int64]


def build_network(raw: RawWays) -> RoadNetwork:
    """The directed road graph of ``raw`` (see :mod:`ingest.roadnet` for the arrays)."""
    n_refs = np.diff(raw.ref_offsets)
    ref_way = np.repeat(np.arange(len(raw.way_id), dtype=np.int64), n_refs)
    ref_index = np.arange(len(raw.ref_node), dtype=np.int64)
    # Pieces: runs of consecutive valid references of one way, without repeated nodes.
    way_start = np.zeros(len(ref_way), dtype=np.bool_)
    way_start[raw.ref_offsets[:-1]] = True
    starts_run = raw.ref_valid & (way_start | ~np.roll(raw.ref_valid, 1))
    repeated = ~way_start & (raw.ref_node == np.roll(raw.ref_node, 1)) & np.roll(raw.ref_valid, 1)
    keep = raw.ref_valid & ~repeated
    piece_of_ref = np.cumsum(starts_run) - 1
    kept = ref_index[keep]
    piece = piece_of_ref[kept]
    piece_size = np.bincount(piece, minlength=int(piece.max(initial=-1)) + 1)
    kept = kept[piece_size[piece] >= 2]
    piece = piece_of_ref[kept]
    node = raw.ref_node[kept]
    lonlat = raw.ref_lonlat[kept]

    lon_lo, lat_lo = lonlat.min(axis=0) if len(lonlat) else (0.0, 0.0)
    lon_hi, lat_hi = lonlat.max(axis=0) if len(lonlat) else (0.0, 0.0)
    projection = LocalProjection(lon0=float(lon_lo + lon_hi) / 2, lat0=float(lat_lo + lat_hi) / 2)
    x, y = projection.to_xy(lonlat[:, 0], lonlat[:, 1])
    xy = np.column_stack([x, y])

    first_of_piece = np.ones(len(piece), dtype=np.bool_)
    first_of_piece[1:] = piece[1:] != piece[:-1]
    last_of_piece = np.roll(first_of_piece, -1)
    _, inverse, uses = np.unique(node, return_inverse=True, return_counts=True)
    is_graph_node = (uses[inverse] >= 2) | first_of_piece | last_of_piece
    gpos = np.flatnonzero(is_graph_node)
    same_piece = piece[gpos[:-1]] == piece[gpos[1:]]
    s, e = gpos[:-1][same_piece], gpos[1:][same_piece]

    graph_osm = np.unique(node[gpos])
    node_of = np.searchsorted(graph_osm, node)
    way_of_edge = ref_way[kept[s]]
    oneway = raw.way_oneway[way_of_edge]
    fwd = np.flatnonzero(oneway >= 0)
    bwd = np.flatnonzero(oneway <= 0)
    base = np.concatenate([fwd, bwd])
    backward = np.concatenate([np.zeros(len(fwd), np.bool_), np.ones(len(bwd), np.bool_)])
    lens = e[base] - s[base] + 1
    owner, k = expand_ranges(np.zeros(len(base), dtype=np.int64), lens)
    geom_ref = np.where(backward[owner], e[base][owner] - k, s[base][owner] + k)
    geom_xy = xy[geom_ref]
    offsets = np.zeros(len(base) + 1, dtype=np.int64)
    np.cumsum(lens, out=offsets[1:])
    step = np.zeros(len(geom_xy))
    step[1:] = np.hypot(*(geom_xy[1:] - geom_xy[:-1]).T)
    step[offsets[:-1]] = 0.0
    cum_all = np.cumsum(step)
    geom_cum = cum_all - np.repeat(cum_all[offsets[:-1]], lens)
    edge_length = geom_cum[offsets[1:] - 1]

    edge_from = node_of[np.where(backward, e[base], s[base])].astype(np.int64)
    edge_to = node_of[np.where(backward, s[base], e[base])].astype(np.int64)
    edge_way_index = way_of_edge[base]
    edge_way = raw.way_id[edge_way_index]
    reverse_edge = np.full(len(base), -1, dtype=np.int64)
    both = oneway[base] == 0
    # fwd and bwd list the two-way base edges in the same order, so their positions pair up.
    two_way_f = np.flatnonzero(both & ~backward)
    two_way_b = np.flatnonzero(both & backward)
    reverse_edge[two_way_f] = two_way_b
    reverse_edge[two_way_b] = two_way_f

    names, name_index = np.unique(np.asarray([*raw.way_name, ""], dtype=str), return_inverse=True)
    order = np.argsort(edge_from, kind="stable")
    out_offsets = np.zeros(len(graph_osm) + 1, dtype=np.int64)
    np.cumsum(np.bincount(edge_from, minlength=len(graph_osm)), out=out_offsets[1:])
    node_lonlat = np.zeros((len(graph_osm), 2))
    node_lonlat[node_of[gpos]] = lonlat[gpos]
    node_xy = np.zeros((len(graph_osm), 2))
    node_xy[node_of[gpos]] = xy[gpos]
    return RoadNetwork(
        projection=projection,
        node_osm_id=graph_osm.astype(np.int64),
        node_lonlat=node_lonlat,
        node_xy=node_xy,
        edge_from=edge_from,
        edge_to=edge_to,
        edge_id=unique_segment_ids(edge_way, graph_osm[edge_from], graph_osm[edge_to], kept[s[base]]),
        edge_way=edge_way.astype(np.int64),
        edge_length=edge_length,
        edge_class=raw.way_class[edge_way_index].astype(np.uint8),
        edge_maxspeed=raw.way_maxspeed[edge_way_index].astype(np.float32),
        edge_name=name_index[:-1][edge_way_index].astype(np.int32),
        reverse_edge=reverse_edge,
        edge_geom_offsets=offsets,
        geom_xy=geom_xy,
        geom_cum=geom_cum,
        out_offsets=out_offsets,
        out_edges=order.astype(np.int64),
        names=[str(n) for n in names],
        class_names=road_tags.CLASS_NAMES,
    )
