"""Standstill thinning: which fixes the HMM decodes, and which just follow the previous one.

Newson & Krumm (2009) drop every fix within 2 sigma_z of the last one kept: while a van stands
or crawls, successive fixes differ by noise only, and decoding them lets the noise walk the match
around the tiny loops of a junction. Thinned fixes are not lost: they take the matched position
of the last kept fix (Valhalla Meili's ``interpolation_distance`` does the same), and their
evidence is kept too: a standing kept fix is decoded at the mean of the standing fixes it stands
for (:func:`pooled_positions`), so a van parked a minute beside a parallel yard road is placed by
sixty fixes, not by whichever one came first. Time alone never forces a decode, except after a
gap in the fixes: a van standing three minutes decodes one fix, not one every few seconds.

While the van *stands* the distance is measured between positions averaged over ``window_s``
seconds around each fix (same trace only): a receiver's white noise averages out over a few
fixes, so a van standing 20–180 s at a delivery no longer decodes a third of its scattered fixes
(at σ = 10 m two raw fixes are > 2σ apart 37 % of the time), each a chance for a U-turn or a
dead-end excursion in the path. A fix stands when its averaged position is within the distance
of the averaged positions ``window_s`` before and after it; a moving van (even one turning round
in a loop, whose long average barely moves) is thinned on positions averaged over the shorter
``moving_window_s`` (3 s: a 60 m turning loop at 9 m/s stays visible). Fixes further apart in
time than the windows are never averaged together; the matcher widens the standing window of a
sparsely sampled trace to a few sampling intervals (``standstill_steps``), or a van standing at a
stop would decode every raw fix and let σ = 10 m noise walk round a junction's tiny loops.

A moving van can also drive far and stay within the distance of the last kept fix: round a
hairpin, into a curled dead-end stub and out. Decoding none of that leaves the HMM a long route
for a short great-circle step, and it prefers jitter or the short cut; so a moving fix is also
decoded once the averaged positions since the last kept fix add up to ``max_travel``.

All traces advance together, one array step per fix index, as in :mod:`.viterbi`.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Float = npt.NDArray[np.float64]
Int = npt.NDArray[np.int64]
Bool = npt.NDArray[np.bool_]


def smoothed_positions(xy: Float, t: Float, trace_offsets: Int, window_s: float | Float) -> Float:
    """Mean position of each fix's trace over ``[t - h, t + h]``, ``h = window_s / 2`` or less
    near the trace's ends (the window stays centred on the fix); ``window_s`` may be per fix."""
    n = len(t)
    if n == 0 or np.all(np.asarray(window_s) <= 0):
        return xy
    trace = np.repeat(np.arange(len(trace_offsets) - 1), np.diff(trace_offsets))
    t_rel = t - t[trace_offsets[:-1][trace]]
    span = float(t_rel.max(initial=0.0)) + 2.0 * float(np.max(window_s)) + 1.0
    key = trace * span + t_rel
    # Near the trace's ends the window shrinks to stay centred: a window cut off on one side
    # would drag a moving van's average towards the middle of the trace (a trace shorter than
    # the window would average to one point and look parked).
    to_end = t[trace_offsets[1:][trace] - 1] - t
    half = np.minimum(np.minimum(0.5 * window_s, t_rel), to_end)
    lo = np.searchsorted(key, key - half, side="left")
    hi = np.searchsorted(key, key + half, side="right")
    cum = np.zeros((n + 1, 2))
    np.cumsum(xy, axis=0, out=cum[1:])
    out: Float = (cum[hi] - cum[lo]) / (hi - lo)[:, None]
    return out


def standing_fixes(
    smoothed: Float, t: Float, trace_offsets: Int, window_s: float | Float, distance: float
) -> Bool:
    """Fixes whose averaged position is within ``distance`` of the averaged positions
    ``window_s`` (per fix or one for all) before and after them (the trace's first and last fix
    at its ends)."""
    n = len(t)
    if n == 0 or np.all(np.asarray(window_s) <= 0):
        return np.zeros(n, dtype=np.bool_)
    trace = np.repeat(np.arange(len(trace_offsets) - 1), np.diff(trace_offsets))
    t_rel = t - t[trace_offsets[:-1][trace]]
    span = float(t_rel.max(initial=0.0)) + 2.0 * float(np.max(window_s)) + 1.0
    key = trace * span + t_rel
    before = np.maximum(np.searchsorted(key, key - window_s, side="left"), trace_offsets[:-1][trace])
    after = np.minimum(np.searchsorted(key, key + window_s, side="right") - 1, trace_offsets[1:][trace] - 1)
    back = np.hypot(*(smoothed - smoothed[before]).T)
    ahead = np.hypot(*(smoothed[after] - smoothed).T)
    out: Bool = (back < distance) & (ahead < distance)
    return out


def thin_standstill(
    xy: Float,
    t: Float,
    trace_offsets: Int,
    min_distance: float,
    gap_seconds: float,
    *,
    window_s: float | Float = 0.0,
    moving_window_s: float = 0.0,
    max_travel: float = np.inf,
) -> tuple[Bool, Bool]:
    """Mask of the fixes to decode: each trace's first fix, every fix more than ``gap_seconds``
    after the previous fix (a GNSS gap), every fix at least ``min_distance`` metres from the last kept
    one — positions averaged over ``window_s`` (per fix or one for all) for standing fixes, over the shorter
    ``moving_window_s`` otherwise — and every moving fix whose averaged positions travelled
    ``max_travel`` metres since the last kept one; and the mask of standing fixes."""
    n = len(t)
    keep = np.zeros(n, dtype=np.bool_)
    if n == 0:
        return keep, keep.copy()
    raw = smoothed_positions(xy, t, trace_offsets, moving_window_s)
    xy = smoothed_positions(xy, t, trace_offsets, window_s)
    standing = standing_fixes(xy, t, trace_offsets, window_s, min_distance)
    lengths = np.diff(trace_offsets)
    order = np.argsort(-lengths, kind="stable")
    starts = trace_offsets[:-1][order]
    sorted_lengths = lengths[order]
    active = np.searchsorted(-sorted_lengths, -np.arange(int(sorted_lengths[0])), side="left")
    last_xy = np.zeros((len(order), 2))
    last_raw = np.zeros((len(order), 2))
    # Distance travelled (averaged positions) since the last kept fix, per trace.
    step = np.zeros(n)
    step[1:] = np.hypot(*(raw[1:] - raw[:-1]).T)
    travel = np.zeros(len(order))
    limit2 = min_distance * min_distance
    for s in range(int(sorted_lengths[0])):
        m = int(active[s])
        fix = starts[:m] + s
        if s == 0:
            take = np.ones(m, dtype=np.bool_)
        else:
            d = xy[fix] - last_xy[:m]
            r = raw[fix] - last_raw[:m]
            far = np.where(
                standing[fix],
                d[:, 0] * d[:, 0] + d[:, 1] * d[:, 1] >= limit2,
                r[:, 0] * r[:, 0] + r[:, 1] * r[:, 1] >= limit2,
            )
            travel[:m] += step[fix]
            winding = ~standing[fix] & (travel[:m] >= max_travel)
            take = far | winding | (t[fix] - t[fix - 1] > gap_seconds)
        keep[fix] = take
        last_xy[:m][take] = xy[fix[take]]
        last_raw[:m][take] = raw[fix[take]]
        travel[:m][take] = 0.0
    return keep, standing


def pooled_positions(xy: Float, keep: Bool, standing: Bool) -> Float:
    """Positions to decode the kept fixes at: a standing kept fix stands for the standing fixes
    that follow it (up to the next kept one), and is decoded at their mean position; a moving
    one at its own."""
    kept = np.flatnonzero(keep)
    out = xy[kept].copy()
    if not len(kept):
        return out
    group = np.cumsum(keep) - 1  # the kept fix each fix follows (-1 before the first)
    pool = standing & (group >= 0) & standing[kept[np.maximum(group, 0)]]
    count = np.bincount(group[pool], minlength=len(kept))
    sx = np.bincount(group[pool], weights=xy[pool, 0], minlength=len(kept))
    sy = np.bincount(group[pool], weights=xy[pool, 1], minlength=len(kept))
    has = count > 0
    out[has, 0] = sx[has] / count[has]
    out[has, 1] = sy[has] / count[has]
    return out
