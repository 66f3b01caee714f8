"""Which ways are drivable and what their tags mean (table-driven)."""

from __future__ import annotations

import pytest

from ingest.roadnet import tags

CLASS_CASES = [
    ({"highway": "residential"}, "residential"),
    ({"highway": "motorway_link"}, "motorway_link"),
    ({"highway": "footway"}, None),
    ({"highway": "cycleway"}, None),
    ({"highway": "service", "access": "no"}, None),
    ({"highway": "service", "access": "no", "motor_vehicle": "yes"}, "service"),
    ({"highway": "pedestrian", "area": "yes"}, None),
    ({"highway": "residential", "area": "yes"}, None),
    ({"building": "yes"}, None),
]


@pytest.mark.parametrize(("osm_tags", "expected"), CLASS_CASES)
def test_road_class(osm_tags: dict[str, str], expected: str | None) -> None:
    cls = tags.road_class(osm_tags)
    assert (None if cls is None else tags.CLASS_NAMES[cls]) == expected


ONEWAY_CASES = [
    ({"highway": "residential"}, 0),
    ({"highway": "residential", "oneway": "yes"}, 1),
    ({"highway": "residential", "oneway": "-1"}, -1),
    ({"highway": "primary", "junction": "roundabout"}, 1),
    ({"highway": "primary", "junction": "roundabout", "oneway": "no"}, 0),
    ({"highway": "motorway"}, 1),
    ({"highway": "motorway", "oneway": "no"}, 0),
]


@pytest.mark.parametrize(("osm_tags", "expected"), ONEWAY_CASES)
def test_oneway(osm_tags: dict[str, str], expected: int) -> None:
    assert tags.oneway(osm_tags) == expected


SPEED_CASES = [
    ({"maxspeed": "40"}, "residential", 40.0),
    ({"maxspeed": "30 mph"}, "residential", 48.28),
    ({"maxspeed": "FI:urban"}, "primary", 50.0),
    ({"maxspeed": "walk"}, "living_street", 7.0),
    ({"maxspeed": "signals"}, "primary", 50.0),
    ({}, "residential", 30.0),
    ({}, "motorway", 100.0),
]


@pytest.mark.parametrize(("osm_tags", "cls", "expected"), SPEED_CASES)
def test_maxspeed(osm_tags: dict[str, str], cls: str, expected: float) -> None:
    assert tags.maxspeed_kmh(osm_tags, tags.CLASS_INDEX[cls]) == pytest.approx(expected, abs=0.01)


def test_name_falls_back_to_ref() -> None:
    assert tags.road_name({"name": "Mannerheimintie", "ref": "137"}) == "Mannerheimintie"
    assert tags.road_name({"ref": "E18"}) == "E18"
    assert tags.road_name({}) == ""
