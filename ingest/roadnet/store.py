"""Write a road network into PostGIS (``road_segments``) with binary COPY, for queries and tiles.

Rows are upserted by ``segment_id``, so storing the same network twice, or two overlapping
extracts, is idempotent.
"""

from __future__ import annotations

import numpy as np
import psycopg

from ingest.roadnet.network import RoadNetwork

_COLUMNS = (
    "segment_id, way_id, from_node, to_node, reverse_id, name, road_class, maxspeed_kmh, length_m, geom"
)
_TYPES = ["int8", "int8", "int8", "int8", "int8", "text", "text", "float4", "float4", "bytea"]
_EWKB_LINESTRING_4326 = np.array([1], np.uint8).tobytes() + np.array([0x20000002, 4326], "<u4").tobytes()


def _ewkb_linestrings(net: RoadNetwork) -> list[bytes]:
    """Little-endian EWKB (SRID 4326) of every edge's geometry, in travel direction."""
    lon, lat = net.to_lonlat(net.geom_xy[:, 0], net.geom_xy[:, 1])
    coords = np.column_stack([lon, lat]).astype("<f8").tobytes()
    counts = np.diff(net.edge_geom_offsets)
    out = []
    for start, n in zip(net.edge_geom_offsets[:-1].tolist(), counts.tolist(), strict=True):
        out.append(
            _EWKB_LINESTRING_4326 + int(n).to_bytes(4, "little") + coords[start * 16 : (start + n) * 16]
        )
    return out


def store_network(conn: psycopg.Connection[tuple[object, ...]], net: RoadNetwork) -> int:
    """Upsert every directed edge of ``net`` into ``road_segments``; returns the row count.

    Runs in the caller's transaction; needs migration ``0020_road_segments`` applied.
    """
    geoms = _ewkb_linestrings(net)
    rev = np.where(net.reverse_edge >= 0, net.edge_id[np.maximum(net.reverse_edge, 0)], -1)
    osm_from = net.node_osm_id[net.edge_from]
    osm_to = net.node_osm_id[net.edge_to]
    conn.execute("CREATE TEMP TABLE _road_segments_in (LIKE road_segments INCLUDING DEFAULTS)")
    with (
        conn.cursor() as cur,
        cur.copy(f"COPY _road_segments_in ({_COLUMNS}) FROM STDIN (FORMAT BINARY)") as cp,
    ):
        cp.set_types(_TYPES)
        for i, row in enumerate(
            zip(
                net.edge_id.tolist(),
                net.edge_way.tolist(),
                osm_from.tolist(),
                osm_to.tolist(),
                rev.tolist(),
                net.edge_names(np.arange(net.n_edges)),
                [net.class_names[c] for c in net.edge_class.tolist()],
                net.edge_maxspeed.tolist(),
                net.edge_length.tolist(),
                strict=True,
            )
        ):
            values = list(row)
            if values[4] < 0:
                values[4] = None
            cp.write_row([*values, geoms[i]])
    conn.execute(
        f"INSERT INTO road_segments ({_COLUMNS}) SELECT {_COLUMNS} FROM _road_segments_in "
        "ON CONFLICT (segment_id) DO UPDATE SET way_id = EXCLUDED.way_id, from_node = EXCLUDED.from_node, "
        "to_node = EXCLUDED.to_node, reverse_id = EXCLUDED.reverse_id, name = EXCLUDED.name, "
        "road_class = EXCLUDED.road_class, maxspeed_kmh = EXCLUDED.maxspeed_kmh, "
        "length_m = EXCLUDED.length_m, geom = EXCLUDED.geom"
    )
    conn.execute("DROP TABLE _road_segments_in")
    return net.n_edges
