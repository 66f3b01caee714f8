"""Viterbi decoding of many traces at once: one array step per time step, across all traces.

Input is flat over the fixes of all traces (grouped by trace, in time order): per fix the
emission log-probabilities of its K candidates, and the (K, K) transition log-probabilities from
the previous fix's candidates, indexed (to, from): the max over the previous candidates runs
along the contiguous last axis. A fix where ``restart`` is set, or whose every transition is
impossible, starts a new chain (a break) rather than failing the trace.

The forward pass steps all traces at once; the backtrack is one plain loop over the fixes (a
slot lookup each), cheaper than an array step per time step with a handful of calls each.
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
    """Most likely candidate per fix, for every trace (``trace_offsets``: CSR over fixes);
    ``transition[fix, to, from]``."""
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
            cand = transition[fix] + score[:n, None, :]
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
    return ViterbiPath(
        choice=_backtrack(forward, back, chain_start, trace_offsets), chain_start=chain_start, forward=forward
    )


def _backtrack(forward: Float, back: npt.NDArray[np.int8], chain_start: Bool, trace_offsets: Int) -> Int:
    """Each fix's slot: its own best where its chain ends there (the trace's last fix, or a new
    chain starts at the next one), else the slot the next fix's choice came from."""
    q, k = forward.shape
    choice: Int = np.argmax(forward, axis=1) if q else np.zeros(0, dtype=np.int64)
    follows = np.zeros(q, dtype=np.bool_)
    follows[:-1] = ~chain_start[1:]
    last = trace_offsets[1:] - 1
    follows[last[last >= 0]] = False
    back_flat = back.reshape(-1)
    for i in np.flatnonzero(follows)[::-1].tolist():
        choice[i] = back_flat[(i + 1) * k + choice[i + 1]]
    return choice
