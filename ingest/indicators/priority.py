"""The priority list: indicators crossed into what a municipality should fix first, and why.

Score of a segment = road need × traffic + air need × traffic, where

- road need: roughness above ``iri_fair`` m/km (scaled by the width of a class, so IRI 4 → 0,
  6 → 1, 8 → 2, ...) plus one per confirmed pothole (a hole is worse than general roughness);
- air need: PM2.5 above the WHO 24-h guideline (15 µg/m³), in multiples of it;
- traffic: ``log2(1 + passes)`` — a busy street carries more people over the same defect.

An IRI with low confidence counts for less (it is multiplied by its confidence). Each entry
carries its reasons as short sentences, in the order they weigh.

    >>> entries = rank(table, limit=20)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

IRI_FAIR = 4.0  # m/km: above this a street is noticeably rough (urban streets: 2–4 good)
IRI_CLASS = 2.0  # m/km per step of need
PM25_GUIDELINE = 15.0  # µg/m³, WHO 2021 24-h guideline
BUSY_PASSES = 10


@dataclass(frozen=True)
class SegmentSummary:
    segment_id: int
    name: str
    passes: int
    iri: float | None = None
    iri_confidence: float | None = None
    potholes: int = 0
    pm25: float | None = None


@dataclass(frozen=True)
class PriorityEntry:
    segment_id: int
    name: str
    score: float
    reasons: list[str] = field(default_factory=list)


def score(s: SegmentSummary) -> PriorityEntry:
    traffic = math.log2(1 + max(s.passes, 0))
    weighed: list[tuple[float, str]] = []
    road = 0.0
    if s.iri is not None and s.iri > IRI_FAIR:
        need = (s.iri - IRI_FAIR) / IRI_CLASS * (s.iri_confidence if s.iri_confidence is not None else 1.0)
        road += need
        weighed.append((need, f"rough road: IRI {s.iri:.1f} m/km (above {IRI_FAIR:g})"))
    if s.potholes > 0:
        road += s.potholes
        plural = "s" if s.potholes > 1 else ""
        weighed.append((float(s.potholes), f"{s.potholes} confirmed pothole{plural}"))
    air = 0.0
    if s.pm25 is not None and s.pm25 > PM25_GUIDELINE:
        air = (s.pm25 - PM25_GUIDELINE) / PM25_GUIDELINE
        weighed.append((air, f"poor air: PM2.5 {s.pm25:.0f} µg/m³ (WHO guideline {PM25_GUIDELINE:g})"))
    total = (road + air) * traffic
    reasons = [text for _, text in sorted(weighed, key=lambda w: -w[0])]
    if total > 0:
        busy = "busy: " if s.passes >= BUSY_PASSES else ""
        reasons.append(f"{busy}{s.passes} passes")
    return PriorityEntry(s.segment_id, s.name, round(total, 3), reasons)


def rank(segments: list[SegmentSummary], limit: int = 50) -> list[PriorityEntry]:
    """Segments with a need, highest score first (ties: more passes first, then segment id)."""
    scored = [(score(s), s) for s in segments]
    kept = [(e, s) for e, s in scored if e.score > 0]
    kept.sort(key=lambda es: (-es[0].score, -es[1].passes, es[0].segment_id))
    return [e for e, _ in kept[:limit]]
