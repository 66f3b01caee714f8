"""Standstill thinning: which fixes the HMM decodes, and which just follow the previous one.

Newson & Krumm (2009) drop every fix within 2 sigma_z of the last one kept: while a van stands
or crawls, successive fixes differ by noise only, and decoding them lets the noise walk the match
around the tiny loops of a junction. Thinned fixes are not lost: they take the matched position
of the last kept fix (Valhalla Meili's ``interpolation_distance`` does the same).

All traces advance together, one array step per fix index, as in :mod:`.viterbi`.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Float = npt.NDArray[np.float64]
Int = npt.NDArray[np.int64]
Bool = npt.NDArray[np.bool_]


def thin_standstill(xy: Float, t: Float, trace_offsets: Int, min_distance: float, gap_seconds: float) -> Bool:
    """Mask of the fixes to decode: each trace's first fix, and every fix at least
    ``min_distance`` metres from the last kept one or more than ``gap_seconds`` after it."""
    n = len(t)
    keep = np.zeros(n, dtype=np.bool_)
    if n == 0:
        return keep
    lengths = np.diff(trace_offsets)
    order = np.argsort(-lengths, kind="stable")
    starts = trace_offsets[:-1][order]
    sorted_lengths = lengths[order]
    active = np.searchsorted(-sorted_lengths, -np.arange(int(sorted_lengths[0])), side="left")
    last_xy = np.zeros((len(order), 2))
    last_t = np.zeros(len(order))
    limit2 = min_distance * min_distance
    for s in range(int(sorted_lengths[0])):
        m = int(active[s])
        fix = starts[:m] + s
        if s == 0:
            take = np.ones(m, dtype=np.bool_)
        else:
            d = xy[fix] - last_xy[:m]
            take = (d[:, 0] * d[:, 0] + d[:, 1] * d[:, 1] >= limit2) | (t[fix] - last_t[:m] > gap_seconds)
        keep[fix] = take
        last_xy[:m][take] = xy[fix[take]]
        last_t[:m][take] = t[fix[take]]
    return keep
