"""Per-road-segment indicators from the vans' matched, time-sorted readings.

    >>> from ingest.indicators.job import recompute
    >>> recompute(conn)            # doctest: +SKIP   passes → indicators, after each sync

Pipeline (each step a small pure NumPy function, tested alone; :mod:`.job` does the SQL):

1. :mod:`.passes` — a device's matched points in time order are cut into *passes* (one van
   traversing one directed segment once); every indicator is built from passes.
2. :mod:`.roughness` — IRI per pass from the on-board ``norm`` roughness feature
   (``IRI ≈ a · norm``), and per segment the median of passes with a confidence.
3. :mod:`.potholes` — pothole events snapped onto segments, clustered along the segment;
   a cluster is confirmed when ≥ 2 independent passes saw it.
4. :mod:`.air` — PM2.5/PM10/CO2/temperature: mean per pass, median of the per-pass means per
   segment, published only once ≥ 4 distinct days are covered.
5. :mod:`.coverage` — median RSRP/RSRQ/SINR, share of readings below usable thresholds, dead spots.
6. :mod:`.priority` — indicators crossed into a ranked list of segments to fix, with reasons.

Periods are ``day``, ``week`` (ISO, from Monday) and ``month``, keyed by their first day (UTC).
"""

from ingest.indicators.params import IndicatorParams

__all__ = ["IndicatorParams"]
