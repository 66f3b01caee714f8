"""Mobile coverage per pass and per segment: medians, share unusable, dead spots.

A reading is *unusable* when RSRP, RSRQ or SINR is below its usable threshold
(``IndicatorParams``), and *no service* when the modem reported no LTE signal at all (RSRP
unknown). A segment is a dead spot when at least ``dead_spot_share`` of its readings had no
service.
"""

from __future__ import annotations

import numpy as np

from ingest.indicators.params import IndicatorParams
from ingest.indicators.passes import Bool, Float, Int, group_median


def unusable(rsrp: Float, rsrq: Float, sinr: Float, params: IndicatorParams) -> tuple[Bool, Bool]:
    """Per reading: (unusable, no service). NaN = unknown; a reading with no RSRP is no service
    (and unusable); an unknown RSRQ or SINR alone does not make a reading unusable."""
    no_service = ~np.isfinite(rsrp)
    with np.errstate(invalid="ignore"):
        bad = (
            no_service
            | (rsrp < params.rsrp_usable_dbm)
            | (rsrq < params.rsrq_usable_db)
            | (sinr < params.sinr_usable_db)
        )
    return bad, no_service


def pass_coverage(
    rsrp: Float, rsrq: Float, sinr: Float, *, idx: Int, k: int, params: IndicatorParams
) -> dict[str, np.ndarray]:
    """Per pass: number of readings, median RSRP/RSRQ/SINR, unusable and no-service counts."""
    bad, none = unusable(rsrp, rsrq, sinr, params)
    ok = idx >= 0
    return {
        "n": np.bincount(idx[ok], minlength=k)[:k].astype(np.int64),
        "rsrp": group_median(rsrp, idx, k),
        "rsrq": group_median(rsrq, idx, k),
        "sinr": group_median(sinr, idx, k),
        "unusable": np.bincount(idx[ok], weights=bad[ok], minlength=k)[:k].astype(np.int64),
        "no_service": np.bincount(idx[ok], weights=none[ok], minlength=k)[:k].astype(np.int64),
    }


def segment_coverage(
    n: Int, rsrp: Float, rsrq: Float, sinr: Float, *, n_unusable: Int, n_none: Int, params: IndicatorParams
) -> dict[str, float | int | None]:
    """A segment's coverage from its passes: medians of the pass medians, the share of unusable
    readings, and 1 if it is a dead spot (else 0)."""
    total = int(n.sum())

    def med(v: Float) -> float | None:
        f = v[np.isfinite(v)]
        return float(np.median(f)) if len(f) else None

    if total == 0:
        return {"rsrp": None, "rsrq": None, "sinr": None, "unusable_share": None, "dead_spots": 0}
    dead = int(n_none.sum()) / total >= params.dead_spot_share
    return {
        "rsrp": med(rsrp),
        "rsrq": med(rsrq),
        "sinr": med(sinr),
        "unusable_share": round(int(n_unusable.sum()) / total, 4),
        "dead_spots": int(dead),
    }
