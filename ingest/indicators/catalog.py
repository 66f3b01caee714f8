"""What the query API, the tiles and the dashboard know about each indicator: column, unit,
legend, and how rows of several periods combine when a time range spans them.

A time range selects the ``segment_indicators`` rows of one period kind whose ``period_start``
falls in it; per segment they combine as below (``SEGMENT_SQL``): counts add up, the IRI and the
unusable share are pass-weighted means, air and radio values are the mean of the published
periods (each is already a median over ≥ 4 days), potholes and dead spots the maximum.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Indicator:
    name: str
    label: str
    unit: str
    #: legend break points, ascending; colours go from good to bad unless ``higher_is_better``
    stops: tuple[float, ...]
    higher_is_better: bool = False
    #: SQL combining the rows of several periods (alias ``i``)
    combine: str = ""
    decimals: int = 1


def _wmean(col: str) -> str:
    known = f"FILTER (WHERE i.{col} IS NOT NULL)"
    return f"sum(i.{col} * i.passes) {known} / nullif(sum(i.passes) {known}, 0)"


INDICATORS: dict[str, Indicator] = {
    i.name: i
    for i in (
        Indicator("iri", "Roughness (IRI)", "m/km", (2.0, 4.0, 6.0, 8.0), combine=_wmean("iri")),
        Indicator("potholes", "Confirmed potholes", "", (1, 2, 3), combine="max(i.potholes)", decimals=0),
        Indicator("pm25", "PM2.5", "µg/m³", (5.0, 10.0, 15.0, 25.0), combine="avg(i.pm25)"),
        Indicator("pm10", "PM10", "µg/m³", (15.0, 30.0, 45.0, 60.0), combine="avg(i.pm10)"),
        Indicator("co2", "CO₂", "ppm", (420.0, 450.0, 500.0, 600.0), combine="avg(i.co2)", decimals=0),
        Indicator("temperature", "Temperature", "°C", (0.0, 10.0, 20.0, 30.0), combine="avg(i.temperature)"),
        Indicator(
            "rsrp",
            "LTE RSRP",
            "dBm",
            (-120.0, -110.0, -100.0, -90.0),
            higher_is_better=True,
            combine="avg(i.rsrp)",
        ),
        Indicator(
            "rsrq",
            "LTE RSRQ",
            "dB",
            (-20.0, -15.0, -10.0, -5.0),
            higher_is_better=True,
            combine="avg(i.rsrq)",
        ),
        Indicator(
            "sinr", "LTE SINR", "dB", (0.0, 5.0, 10.0, 20.0), higher_is_better=True, combine="avg(i.sinr)"
        ),
        Indicator(
            "unusable_share",
            "Coverage unusable",
            "share",
            (0.05, 0.1, 0.25, 0.5),
            combine=_wmean("unusable_share"),
            decimals=2,
        ),
        Indicator(
            "passes",
            "Passes",
            "",
            (5, 10, 20, 50),
            higher_is_better=True,
            combine="sum(i.passes)",
            decimals=0,
        ),
    )
}

PERIODS = ("day", "week", "month")

#: Published only from ``air_min_days`` days on (grey "not enough data" before).
AIR = ("pm25", "pm10", "co2", "temperature")

#: Combined indicators per segment for one period kind and range: parameters
#: (period, from, to) — from/to may be NULL for an open end.
SEGMENT_SQL = (
    "SELECT i.segment_id, "
    + ", ".join(f"{ind.combine} AS {ind.name}" for ind in INDICATORS.values() if ind.name != "passes")
    + ", sum(i.passes) AS passes, sum(i.days) AS days, max(i.last_measured) AS last_measured,"
    " max(i.iri_confidence) AS iri_confidence, sum(i.pothole_events) AS pothole_events,"
    " max(i.dead_spots) AS dead_spots, max(i.air_days) AS air_days"
    " FROM segment_indicators i"
    " WHERE i.period = %(period)s"
    " AND (%(from)s::date IS NULL OR i.period_start >= %(from)s::date)"
    " AND (%(to)s::date IS NULL OR i.period_start <= %(to)s::date)"
    " GROUP BY i.segment_id"
)

PROPERTY_NAMES = (
    "segment_id",
    *[n for n in INDICATORS if n != "passes"],
    "passes",
    "days",
    "last_measured",
    "iri_confidence",
    "pothole_events",
    "dead_spots",
    "air_days",
)


def legend() -> list[dict[str, object]]:
    return [
        {
            "name": i.name,
            "label": i.label,
            "unit": i.unit,
            "stops": list(i.stops),
            "higher_is_better": i.higher_is_better,
            "decimals": i.decimals,
            "air": i.name in AIR,
        }
        for i in INDICATORS.values()
    ]
