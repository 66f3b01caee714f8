"""Scores for the map-matching benchmark: Newson & Krumm's route mismatch, matched share, speed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ingest.roadnet import RoadNetwork

Int = npt.NDArray[np.int64]


def mismatch_lengths(net: RoadNetwork, truth: Int, matched: Int) -> tuple[float, float, float]:
    """(wrongly added, wrongly omitted, true) route metres; routes as multisets of directed edges."""
    n = net.n_edges
    true_count = np.bincount(truth, minlength=n)
    matched_count = np.bincount(matched[matched >= 0], minlength=n)
    added = float(np.maximum(matched_count - true_count, 0) @ net.edge_length)
    omitted = float(np.maximum(true_count - matched_count, 0) @ net.edge_length)
    return added, omitted, float(true_count @ net.edge_length)


@dataclass(frozen=True)
class Score:
    """One matcher on one set of traces."""

    matcher: str
    traces: int
    fixes: int
    seconds: float
    matched_share: float
    route_mismatch: float
    splits: int
    note: str = ""
    added_share: float = float("nan")  # wrongly added length / true length
    omitted_share: float = float("nan")  # wrongly omitted length / true length

    @property
    def fixes_per_second(self) -> float:
        return self.fixes / self.seconds if self.seconds > 0 else float("inf")


def score(
    net: RoadNetwork,
    name: str,
    *,
    truths: Sequence[Int],
    paths: Sequence[Int],
    matched: Sequence[npt.NDArray[np.bool_]],
    seconds: float,
    splits: int,
    note: str = "",
) -> Score:
    """Aggregate over traces: mismatch is Σ(added + omitted) / Σ true length, as N&K report it."""
    added = omitted = total = 0.0
    for truth, path in zip(truths, paths, strict=True):
        a, o, t = mismatch_lengths(net, truth, path)
        added += a
        omitted += o
        total += t
    fixes = sum(len(m) for m in matched)
    return Score(
        matcher=name,
        traces=len(truths),
        fixes=fixes,
        seconds=seconds,
        matched_share=float(sum(int(m.sum()) for m in matched)) / max(fixes, 1),
        route_mismatch=(added + omitted) / total if total > 0 else 0.0,
        splits=splits,
        note=note,
        added_share=added / total if total > 0 else 0.0,
        omitted_share=omitted / total if total > 0 else 0.0,
    )
