"""Air quality per segment: the median of per-pass means, published from ``air_min_days`` days.

A van standing three minutes at a delivery point takes six readings where another van driving
past takes none or one: averaging per pass first, then taking the median across passes, keeps
one long stop (or one pass behind a bus) from dominating the segment.

    >>> value, days = segment_air(pass_means, pass_day, min_days=4)   # None until 4 days
"""

from __future__ import annotations

import numpy as np

from ingest.indicators.passes import Float, Int


def segment_air(pass_means: Float, pass_day: Int, min_days: int) -> tuple[float | None, int]:
    """Median of the finite per-pass means and the number of distinct days they cover; the value
    is None ("not enough data") while fewer than ``min_days`` days are covered."""
    ok = np.isfinite(pass_means)
    days = len(np.unique(pass_day[ok]))
    if days < min_days:
        return None, days
    return float(np.median(pass_means[ok])), days
