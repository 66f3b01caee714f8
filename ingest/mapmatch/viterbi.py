"""Viterbi decoding of many traces at once: one array step per time step, across all traces.

Input is flat over the fixes of all traces (grouped by trace, in time order): per fix the
emission log-probabilities of its K candidates, and the (K, K) transition log-probabilities from
the previous fix. A fix where ``restart`` is set, or whose every transition is impossible, starts
a new chain (a break) rather than failing the trace.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Float = npt.NDArray[np.float64]
Int = npt.NDArray[np.int64]
Bool = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class ViterbiPath:
    """The decoded chain: per fix, the chosen candidate slot and whether a chain starts there."""

    choice: Int  # (Q,) slot in 0..K-1
    chain_start: Bool  # (Q,) a new chain starts here (trace start, forced or found break)
    forward: Float  # (Q, K) forward max-log-probabilities, normalised so each row's max is 0


def viterbi(
    emission: Float,
    transition: npt.NDArray[np.float32],
    restart: Bool,
    trace_offsets: Int,
) -> ViterbiPath:
    """Most likely candidate per fix, for every trace (``trace_offsets``: CSR over fixes)."""
    q, k = emission.shape
    lengths = np.diff(trace_offsets)
    order = np.argsort(-lengths, kind="stable")
    starts = trace_offsets[:-1][order]
    sorted_lengths = lengths[order]
    longest = int(sorted_lengths[0]) if len(sorted_lengths) else 0
    # active[s] = how many traces (a prefix of ``order``) have a fix at step s.
    active = np.searchsorted(-sorted_lengths, -np.arange(longest), side="left")
    back = np.zeros((q, k), dtype=np.int8)
    forward = np.full((q, k), -np.inf)
    chain_start = np.zeros(q, dtype=np.bool_)
    score = np.full((len(order), k), -np.inf)
    rows, slots = np.arange(len(order))[:, None], np.arange(k)[None, :]
    for s in range(longest):
        n = int(active[s])
        fix = starts[:n] + s
        emis = emission[fix]
        if s == 0:
            new = emis
            fresh = np.ones(n, dtype=np.bool_)
        else:
            # (trace, to, from): the max runs over the contiguous last axis, several times
            # faster than over the middle one; the fancy gather beats a second max pass.
            cand = np.add(score[:n, None, :], transition[fix].transpose(0, 2, 1), order="C")
            best = np.argmax(cand, axis=2)
            new = cand[rows[:n], slots, best] + emis
            back[fix] = best
            fresh = restart[fix] | ~np.isfinite(new).any(axis=1)
            new = np.where(fresh[:, None], emis, new)
        top = new.max(axis=1, initial=-np.inf)
        new = new - np.where(np.isfinite(top), top, 0.0)[:, None]
        score[:n] = new
        forward[fix] = new
        chain_start[fix] = fresh
    choice = np.zeros(q, dtype=np.int64)
    last_step = sorted_lengths - 1
    for s in range(longest - 1, -1, -1):
        n = int(active[s])
        fix = starts[:n] + s
        ends_here = last_step[:n] == s
        if s == longest - 1 or ends_here.any():
            e = fix[ends_here] if s != longest - 1 else fix
            choice[e] = np.argmax(forward[e], axis=1)
        if s == 0:
            break
        nxt = fix
        prev = fix - 1
        follow = ~chain_start[nxt]
        choice[prev[follow]] = back[nxt[follow], choice[nxt[follow]]]
        choice[prev[~follow]] = np.argmax(forward[prev[~follow]], axis=1)
    return ViterbiPath(choice=choice, chain_start=chain_start, forward=forward)
