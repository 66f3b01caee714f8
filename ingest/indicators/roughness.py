"""IRI (m/km) from the on-board roughness feature, per pass and per segment.

The firmware's ``norm`` is ``1000 · rms / v^1.5`` (FORMAT.md): for a road whose profile PSD falls
as n⁻², vertical acceleration RMS grows as v^1.5, so ``norm`` is proportional to roughness
whatever the speed, and ``IRI ≈ a · norm`` for a vehicle class (``a`` = ``iri_per_norm``). A real
van's suspension filters the road, so ``norm`` still falls with speed; each second is corrected
with ``(v / iri_ref_speed)^iri_speed_exponent`` (fitted on the simulators' van, see the bench).

    >>> pass_iri(norm, speed, pass_idx, k, params)      # (k,) m/km, NaN without enough seconds
    >>> segment_iri(pass_values, pass_seconds)           # (iri, confidence)
"""

from __future__ import annotations

import numpy as np

from ingest.indicators.params import IndicatorParams
from ingest.indicators.passes import Float, Int, group_mean


def pass_iri(
    norm: Float, speed: Float, idx: Int, k: int, params: IndicatorParams, *, t: Float | None = None
) -> tuple[Float, Int]:
    """IRI of each of ``k`` passes (NaN with fewer than ``iri_min_seconds`` usable seconds) and the
    number of usable seconds of each.

    The board computes second ``i``'s features from the samples of the second *before* its fix
    (``firmware/app.py``), so they describe the road between fixes ``i − 1`` and ``i``: a second
    counts for a pass only when both fixes are in it (and, with ``t``, one second apart), which
    keeps the road of the neighbouring segment out of a short segment's IRI.
    """
    whole = np.zeros(len(idx), dtype=np.bool_)
    if len(idx) > 1:
        whole[1:] = (idx[1:] == idx[:-1]) & (idx[1:] >= 0)
        if t is not None:
            whole[1:] &= np.diff(t) <= 1.5
    usable = whole & np.isfinite(norm) & np.isfinite(speed) & (speed >= params.iri_min_speed)
    v = np.where(usable, speed, params.iri_ref_speed)
    at_ref = norm * np.power(v / params.iri_ref_speed, params.iri_speed_exponent)
    mean, counts = group_mean(np.where(usable, at_ref, np.nan), idx, k)
    iri: Float = np.where(counts >= params.iri_min_seconds, params.iri_per_norm * mean, np.nan)
    return iri, counts


def segment_iri(pass_values: Float, pass_seconds: Int) -> tuple[float | None, float | None]:
    """IRI of a segment from its passes: the median of the pass IRIs (robust to one odd pass),
    with a confidence in [0, 1] that grows with the number of passes and seconds and falls with
    the disagreement between passes (coefficient of variation)."""
    ok = np.isfinite(pass_values)
    v = pass_values[ok]
    if len(v) == 0:
        return None, None
    iri = float(np.median(v))
    seconds = float(pass_seconds[ok].sum())
    support = (1.0 - np.exp(-len(v) / 3.0)) * (1.0 - np.exp(-seconds / 10.0))
    spread = float(np.std(v) / iri) if iri > 0 and len(v) > 1 else 0.5
    confidence = float(support / (1.0 + spread))
    return iri, round(confidence, 3)
