"""The query API over real HTTP on loopback, on the synthetic city's database."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest

from ingest.app import create_app
from ingest.core.config import Settings
from ingest.testing import LiveServer
from ingest.tests.indicators.city import START, City

BBOX = "24.92,60.16,24.95,60.18"


@pytest.fixture(scope="module")
def api(city: City) -> Iterator[str]:
    with LiveServer(create_app(Settings(database_url=city.url))) as server:
        yield server.url


def _get(url: str, **params: object) -> httpx.Response:
    r = httpx.get(url, params=params, timeout=30)  # type: ignore[arg-type]
    assert r.status_code == 200, r.text
    return r


def test_indicators_lists_units_legends_and_periods(api: str) -> None:
    body = _get(f"{api}/v1/indicators").json()
    names = {i["name"]: i for i in body["indicators"]}
    assert names["iri"]["unit"] == "m/km"
    assert names["pm25"]["unit"] == "µg/m³"
    west, south, east, north = body["extent"]
    assert 24.92 < west < east < 24.95 and 60.16 < south < north < 60.18
    assert body["periods"]["day"] == {
        "first": START.isoformat(),
        "last": (START + timedelta(days=4)).isoformat(),
    }


def test_segments_geojson_by_bbox_range_and_indicator(api: str, city: City) -> None:
    fc = _get(f"{api}/v1/segments", bbox=BBOX, indicator="iri", period="week").json()
    assert fc["type"] == "FeatureCollection"
    assert len(fc["features"]) == len(city.truth.segment_ids)
    f = fc["features"][0]
    assert f["geometry"]["type"] == "LineString"
    sid = f["properties"]["segment_id"]
    assert f["properties"]["value"] == f["properties"]["iri"]
    assert f["properties"]["value"] == pytest.approx(city.truth.iri[sid], rel=0.15)
    # A day alone has no published air ("not enough data"): value is null, the segment is still there.
    day = _get(
        f"{api}/v1/segments", bbox=BBOX, indicator="pm25", period="day", **{"from": START, "to": START}
    )
    assert all(x["properties"]["value"] is None for x in day.json()["features"])
    # A range with no data: segments with nulls; measured_only drops them.
    empty = {"period": "day", "from": "2020-01-01", "to": "2020-01-02"}
    assert all(
        x["properties"]["passes"] is None
        for x in _get(f"{api}/v1/segments", bbox=BBOX, **empty).json()["features"]
    )
    assert _get(f"{api}/v1/segments", bbox=BBOX, measured_only="true", **empty).json()["features"] == []
    # Nothing outside the box.
    assert _get(f"{api}/v1/segments", bbox="25.5,60.5,25.6,60.6").json()["features"] == []


def test_bad_queries_are_400_with_a_reason(api: str) -> None:
    for params in ({"bbox": "1,2,3"}, {"bbox": "10,10,0,0"}, {"bbox": "0,0,10,10"}):
        r = httpx.get(f"{api}/v1/segments", params=params, timeout=10)
        assert r.status_code == 400
        assert r.json()["error"] == "bad_bbox"
    r = httpx.get(f"{api}/v1/segments", params={"bbox": BBOX, "indicator": "nope"}, timeout=10)
    assert r.status_code == 422
    r = httpx.get(
        f"{api}/v1/segments", params={"bbox": BBOX, "from": "2026-02-01", "to": "2026-01-01"}, timeout=10
    )
    assert r.status_code == 400
    assert httpx.get(f"{api}/v1/segments/42", timeout=10).status_code == 404


def test_segment_detail_has_series_and_potholes(api: str, city: City) -> None:
    holed = next(s for s, h in city.truth.potholes.items() if h)
    d = _get(f"{api}/v1/segments/{holed}", period="week").json()
    assert d["name"] == city.truth.names[holed]
    assert [p["period_start"] for p in d["series"]] == [
        (START + timedelta(days=i)).isoformat() for i in range(5)
    ]
    confirmed = [c for c in d["pothole_clusters"] if c["confirmed"]]
    assert len(confirmed) == 1
    assert confirmed[0]["offset"] == pytest.approx(city.truth.potholes[holed][0], abs=6)
    assert d["potholes"] == 1


def test_priority_list_puts_holed_rough_segments_first_with_reasons(api: str, city: City) -> None:
    body = _get(f"{api}/v1/priority", period="week", limit=10).json()
    entries = body["entries"]
    assert [e["rank"] for e in entries] == list(range(1, len(entries) + 1))
    top = entries[0]
    assert top["sid"] == str(top["segment_id"])
    assert city.truth.potholes[top["segment_id"]]
    assert any("pothole" in r for r in top["reasons"])
    assert len(top["bbox"]) == 4
    assert top["bbox"][0] <= top["lon"] <= top["bbox"][2]
    scores = [e["score"] for e in entries]
    assert scores == sorted(scores, reverse=True)


def test_exports_csv_and_geojson(api: str, city: City) -> None:
    r = _get(f"{api}/v1/export/segments.csv", bbox=BBOX, period="week")
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == len(city.truth.segment_ids)
    assert {"segment_id", "iri", "pm25", "potholes", "rsrp", "lon", "lat"} <= set(rows[0])
    r = _get(f"{api}/v1/export/segments.geojson", bbox=BBOX, period="week", indicator="pm25")
    assert r.headers["content-type"] == "application/geo+json"
    assert len(r.json()["features"]) == len(city.truth.segment_ids)


def _tile(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def test_vector_tiles_from_postgis(api: str) -> None:
    x, y = _tile(24.931, 60.171, 15)
    r = _get(f"{api}/v1/tiles/15/{x}/{y}.pbf", period="week")
    assert r.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    assert len(r.content) > 100
    assert b"segments" in r.content
    assert b"iri" in r.content and b"pm25" in r.content and b"sid" in r.content
    # Far away: an empty tile; too small a zoom: empty; out of range: 400.
    assert _get(f"{api}/v1/tiles/15/0/0.pbf").content == b""
    assert _get(f"{api}/v1/tiles/3/4/2.pbf").content == b""
    assert httpx.get(f"{api}/v1/tiles/2/9/0.pbf", timeout=10).status_code == 400


def test_replay_of_a_van_day(api: str, city: City) -> None:
    listing = _get(f"{api}/v1/replay").json()
    assert listing["day"] == (START + timedelta(days=4)).isoformat()
    assert [d["device_id"] for d in listing["devices"]] == city.truth.devices
    dev = city.truth.devices[0]
    r = _get(f"{api}/v1/replay/{dev}", day=START, step=5).json()
    t = r["points"]["t"]
    assert t == sorted(t)
    assert all(s % 5 == 0 for s in t)
    # Drawn in pieces: the synthetic vans jump from one street to the next.
    assert r["line"]["type"] == "MultiLineString"
    assert sum(len(piece) for piece in r["line"]["coordinates"]) <= r["n"]
    assert len(r["line"]["coordinates"]) > 10
    assert httpx.get(f"{api}/v1/replay/{dev}", params={"day": "2020-01-01"}, timeout=10).status_code == 404


def test_fleet_health(api: str, city: City) -> None:
    dev = city.truth.devices[0]
    now = datetime.now(UTC)
    with psycopg.connect(city.url) as conn:
        conn.execute(
            "INSERT INTO devices (device_id, key, depot) VALUES (%s, %s, 'depot-a') ON CONFLICT DO NOTHING",
            (dev, bytes(32)),
        )
        conn.execute(
            "INSERT INTO gateways (gateway_id, token_sha256, depot, last_seen)"
            " VALUES ('gw-a', %s, 'depot-a', %s) ON CONFLICT DO NOTHING",
            (bytes(32), now),
        )
        conn.execute(
            "INSERT INTO chunk_ranges (device_id, first_seq, last_seq, gateway_id, received_at)"
            " VALUES (%s, 0, 99, 'gw-a', %s)",
            (dev, now),
        )
        counters = [0] * 20
        counters[1] = 3  # nmea_crc_fail
        conn.execute(
            "INSERT INTO device_health VALUES (%s, %s, 1, 99, 0, 7, 50000, 12, 0, %s)", (now, dev, counters)
        )
    devices = _get(f"{api}/v1/fleet/devices").json()
    mine = next(d for d in devices["devices"] if d["device_id"] == dev)
    assert mine["depot"] == "depot-a"
    assert mine["last_sync"] is not None
    assert mine["last_gateway"] == "gw-a"
    assert mine["flash_used_kb"] == 12
    assert mine["counters"]["nmea_crc_fail"] == 3
    assert mine["errors"] == 3
    assert "firmware_version" in mine
    gws = _get(f"{api}/v1/fleet/gateways").json()["gateways"]
    gw = next(g for g in gws if g["gateway_id"] == "gw-a")
    assert gw["chunks_24h"] == 1
    assert gw["devices_24h"] == 1


def test_openapi_documents_the_query_routes(api: str) -> None:
    paths = _get(f"{api}/openapi.json").json()["paths"]
    for p in (
        "/v1/segments",
        "/v1/segments/{segment_id}",
        "/v1/priority",
        "/v1/export/segments.csv",
        "/v1/tiles/{z}/{x}/{y}.pbf",
        "/v1/replay/{device_id}",
        "/v1/fleet/devices",
        "/v1/fleet/gateways",
    ):
        assert p in paths
