"""The dashboard in a real headless Chromium (Debian's), driven by playwright-core from a small Node
script, against the real ingest service on loopback with the synthetic city in its database.
Screenshots go to ``artifacts/dashboard/``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import numpy as np
import psycopg
import pytest
from PIL import Image

from ingest.tests.dashboard.chromium import ARTIFACTS, run_in_chromium
from ingest.tests.indicators.city import City

PALETTE = {"#1a9850", "#91cf60", "#fee08b", "#fc8d59", "#d73027"}


def _palette_counts(png: Path) -> Counter[str]:
    img = Image.open(png).convert("RGB")
    w, h = img.size
    # The map only: left of the side panel, below the header.
    px = np.asarray(img.crop((0, 60, w - 360, h - 40))).reshape(-1, 3).astype(np.int64)
    packed = (px[:, 0] << 16) | (px[:, 1] << 8) | px[:, 2]
    counts: Counter[str] = Counter()
    for colour in PALETTE:
        n = int((packed == int(colour[1:], 16)).sum())
        if n:
            counts[colour] = n
    return counts


@pytest.fixture(scope="module")
def browser_run(city: City) -> Iterator[dict[str, object]]:
    with psycopg.connect(city.url) as conn:
        conn.execute(
            "INSERT INTO devices (device_id, key, depot, vehicle) VALUES (%s, %s, 'depot-a', 'GE-123-AB')"
            " ON CONFLICT DO NOTHING",
            (city.truth.devices[0], bytes(32)),
        )
    result: dict[str, object] = run_in_chromium("browser_check.cjs", city.url)
    yield result


def test_page_loads_and_segments_render(browser_run: dict[str, object]) -> None:
    assert browser_run["console"] == []
    assert browser_run["requests_outside"] == []  # no internet needed: no external tiles or fonts
    assert isinstance(browser_run["rendered"], int) and browser_run["rendered"] > 20
    assert "m/km" in str(browser_run["legend_iri"])
    assert "no data" in str(browser_run["legend_iri"])
    counts = _palette_counts(ARTIFACTS / "dashboard-iri.png")
    assert sum(counts.values()) > 2000
    assert len(counts) >= 3  # several roughness classes on the map


def test_switching_indicator_changes_colours_and_url(browser_run: dict[str, object]) -> None:
    assert "µg/m³" in str(browser_run["legend_pm25"])
    assert parse_qs(urlparse(str(browser_run["url_after_indicator"])).query)["ind"] == ["pm25"]
    iri = _palette_counts(ARTIFACTS / "dashboard-iri.png")
    pm25 = _palette_counts(ARTIFACTS / "dashboard-pm25.png")
    assert sum(pm25.values()) > 2000
    share = {k: v / sum(iri.values()) for k, v in iri.items()}
    share_pm = {k: v / sum(pm25.values()) for k, v in pm25.items()}
    assert sum(abs(share.get(k, 0) - share_pm.get(k, 0)) for k in PALETTE) > 0.2


def test_priority_list_links_to_the_map(browser_run: dict[str, object]) -> None:
    assert isinstance(browser_run["priority_count"], int) and browser_run["priority_count"] >= 3
    assert "pothole" in str(browser_run["priority_text"])
    sid = browser_run["priority_sid"]
    assert browser_run["detail_sid"] == sid
    assert parse_qs(urlparse(str(browser_run["url_after_priority"])).query)["seg"] == [sid]
    assert (
        isinstance(browser_run["zoom"], int | float) and browser_run["zoom"] > 15
    )  # zoomed onto the segment
    assert isinstance(browser_run["selected_rendered"], int) and browser_run["selected_rendered"] >= 1
    assert browser_run["series_svg"] == 1
    # A click on the map opens the segment under the pointer (either direction of a two-way street).
    assert isinstance(browser_run["clicked_sids"], list) and browser_run["clicked_sids"]
    assert browser_run["detail_sid_after_click"] in browser_run["clicked_sids"]


def test_replay_and_fleet_pages(browser_run: dict[str, object]) -> None:
    assert "UTC" in str(browser_run["replay_info"])
    q = parse_qs(urlparse(str(browser_run["url_replay"])).query)
    assert q["view"] == ["replay"] and q["t"] == ["600"]
    assert "GE-123-AB" in str(browser_run["fleet_text"])
