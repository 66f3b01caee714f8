"""Read the drivable ways of an OpenStreetMap PBF extract into flat arrays (one pass, ``osmium``).

Node locations come from osmium's location index; a way that references nodes missing from the
extract (clipped at its border) keeps them with ``valid = False``, and the graph builder cuts the
way there instead of failing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import osmium

from ingest.roadnet import tags as road_tags


@dataclass(frozen=True)
class RawWays:
    """Drivable ways as flat arrays; way ``i`` owns refs ``ref_offsets[i]:ref_offsets[i+1]``."""

    way_id: npt.NDArray[np.int64]
    way_class: npt.NDArray[np.uint8]
    way_oneway: npt.NDArray[np.int8]
    way_maxspeed: npt.NDArray[np.float32]
    way_name: list[str]
    ref_offsets: npt.NDArray[np.int64]
    ref_node: npt.NDArray[np.int64]
    ref_lonlat: npt.NDArray[np.float64]
    ref_valid: npt.NDArray[np.bool_]


class _WayCollector(osmium.SimpleHandler):
    def __init__(self) -> None:
        super().__init__()
        self.way_id: list[int] = []
        self.way_class: list[int] = []
        self.way_oneway: list[int] = []
        self.way_maxspeed: list[float] = []
        self.way_name: list[str] = []
        self.ref_count: list[int] = []
        self.ref_node: list[int] = []
        self.ref_lon: list[float] = []
        self.ref_lat: list[float] = []
        self.ref_valid: list[bool] = []

    def way(self, w: osmium.osm.Way) -> None:
        tags = {t.k: t.v for t in w.tags}
        cls = road_tags.road_class(tags)
        if cls is None or len(w.nodes) < 2:
            return
        self.way_id.append(w.id)
        self.way_class.append(cls)
        self.way_oneway.append(road_tags.oneway(tags))
        self.way_maxspeed.append(road_tags.maxspeed_kmh(tags, cls))
        self.way_name.append(road_tags.road_name(tags))
        self.ref_count.append(len(w.nodes))
        for node in w.nodes:
            location = node.location
            self.ref_node.append(node.ref)
            if location.valid():
                self.ref_lon.append(location.lon)
                self.ref_lat.append(location.lat)
                self.ref_valid.append(True)
            else:
                self.ref_lon.append(0.0)
                self.ref_lat.append(0.0)
                self.ref_valid.append(False)


def read_drivable_ways(pbf: Path) -> RawWays:
    """Every drivable way of ``pbf`` with its node references and their locations."""
    collector = _WayCollector()
    collector.apply_file(str(pbf), locations=True, filters=[osmium.filter.KeyFilter("highway")])
    offsets = np.zeros(len(collector.ref_count) + 1, dtype=np.int64)
    np.cumsum(np.asarray(collector.ref_count, dtype=np.int64), out=offsets[1:])
    return RawWays(
        way_id=np.asarray(collector.way_id, dtype=np.int64),
        way_class=np.asarray(collector.way_class, dtype=np.uint8),
        way_oneway=np.asarray(collector.way_oneway, dtype=np.int8),
        way_maxspeed=np.asarray(collector.way_maxspeed, dtype=np.float32),
        way_name=collector.way_name,
        ref_offsets=offsets,
        ref_node=np.asarray(collector.ref_node, dtype=np.int64),
        ref_lonlat=np.column_stack(
            [np.asarray(collector.ref_lon, dtype=np.float64), np.asarray(collector.ref_lat, dtype=np.float64)]
        ).reshape(-1, 2),
        ref_valid=np.asarray(collector.ref_valid, dtype=np.bool_),
    )
