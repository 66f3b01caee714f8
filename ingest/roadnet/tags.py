"""Which OSM ways a van can drive, and what their tags mean: road class, one-way, max speed, name.

The tables here are the whole policy; :mod:`ingest.roadnet.osm_reader` applies them way by way.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

#: Drivable ``highway=*`` values, in the order of ``RoadNetwork.class_names`` (index = ``edge_class``),
#: with the speed (km/h) assumed when a way has no usable ``maxspeed``.
DEFAULT_SPEED_KMH: dict[str, float] = {
    "motorway": 100.0,
    "motorway_link": 60.0,
    "trunk": 80.0,
    "trunk_link": 50.0,
    "primary": 50.0,
    "primary_link": 40.0,
    "secondary": 50.0,
    "secondary_link": 40.0,
    "tertiary": 40.0,
    "tertiary_link": 30.0,
    "unclassified": 40.0,
    "residential": 30.0,
    "living_street": 20.0,
    "service": 20.0,
    "road": 30.0,
}
CLASS_NAMES: tuple[str, ...] = tuple(DEFAULT_SPEED_KMH)
CLASS_INDEX: dict[str, int] = {name: i for i, name in enumerate(CLASS_NAMES)}

_NO_ACCESS = frozenset({"no", "private_no"})
_IMPLIED_ONEWAY_CLASSES = frozenset({"motorway"})
_ONEWAY_FORWARD = frozenset({"yes", "true", "1"})
_ONEWAY_BACKWARD = frozenset({"-1", "reverse"})
_ONEWAY_JUNCTIONS = frozenset({"roundabout", "circular"})
#: Country zone codes (``FI:urban``) and words, as in the OSM wiki's default speed limits.
_ZONE_SPEED_KMH = {"urban": 50.0, "rural": 80.0, "motorway": 120.0, "living_street": 20.0, "walk": 7.0}
_NUMBER = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(mph|km/h|kmh|kph)?\s*$")
_MPH = 1.609344


def road_class(tags: Mapping[str, str]) -> int | None:
    """The class index of a drivable way, or ``None`` when vans cannot drive it."""
    highway = tags.get("highway")
    if highway is None or highway not in CLASS_INDEX:
        return None
    if tags.get("area") == "yes":
        return None
    for key in ("motor_vehicle", "motorcar", "vehicle", "access"):
        value = tags.get(key)
        if value is not None:
            # The most specific access tag present decides.
            return None if value in _NO_ACCESS else CLASS_INDEX[highway]
    return CLASS_INDEX[highway]


def oneway(tags: Mapping[str, str]) -> int:
    """``1`` one-way along the way's node order, ``-1`` against it, ``0`` both ways."""
    value = tags.get("oneway")
    if value in _ONEWAY_FORWARD:
        return 1
    if value in _ONEWAY_BACKWARD:
        return -1
    if value == "no":
        return 0
    if tags.get("junction") in _ONEWAY_JUNCTIONS or tags.get("highway") in _IMPLIED_ONEWAY_CLASSES:
        return 1
    return 0


def maxspeed_kmh(tags: Mapping[str, str], class_index: int) -> float:
    """The posted speed limit in km/h, else the default of the road class."""
    value = tags.get("maxspeed")
    if value:
        match = _NUMBER.match(value)
        if match:
            speed = float(match.group(1)) * (_MPH if match.group(2) == "mph" else 1.0)
            if 0 < speed <= 200:
                return speed
        zone = value.rsplit(":", 1)[-1]
        if zone in _ZONE_SPEED_KMH:
            return _ZONE_SPEED_KMH[zone]
    return DEFAULT_SPEED_KMH[CLASS_NAMES[class_index]]


def road_name(tags: Mapping[str, str]) -> str:
    """The street name, else the road reference (``ref``), else an empty string."""
    return tags.get("name") or tags.get("ref") or ""
