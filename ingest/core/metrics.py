"""Prometheus metrics of the ingest service (served at ``/metrics``).

Every rejection and quarantine is counted with a reason label: nothing is dropped silently.
"""

from __future__ import annotations

import collections

from prometheus_client import Counter, Histogram

REQUESTS = Counter("facteur_ingest_chunk_requests_total", "Chunk API requests by HTTP status", ["status"])
CHUNKS = Counter("facteur_ingest_chunks_total", "Chunks received, by outcome", ["outcome"])
REJECTIONS = Counter("facteur_ingest_chunk_rejections_total", "Chunks rejected, by reason", ["reason"])
BATCH_REJECTIONS = Counter(
    "facteur_ingest_batch_rejections_total", "Whole bodies rejected, by reason", ["reason"]
)
BLOCKS = Counter(
    "facteur_ingest_blocks_total", "Blocks received, by outcome (accepted, duplicate)", ["outcome"]
)
SATURATED = Counter(
    "facteur_ingest_saturated_total", "Requests answered 503 for lack of a write slot", ["reason"]
)
READINGS = Counter("facteur_ingest_readings_total", "Readings stored, by kind", ["kind"])
QUARANTINED = Counter(
    "facteur_ingest_quarantined_total", "Readings quarantined, by kind and reason", ["kind", "reason"]
)
REDATED_BLOCKS = Counter(
    "facteur_ingest_redated_blocks_total",
    "Blocks taken out of quarantine when their boot's time anchor arrived",
)
PIPELINE_ERRORS = Counter(
    "facteur_ingest_pipeline_errors_total",
    "Chunks whose decode stage failed (kept raw, quarantined)",
    ["error"],
)
DECODE_ERRORS = Counter(
    "facteur_ingest_decode_errors_total", "Records the decoder could not read", ["reason"]
)
ACK_SECONDS = Histogram(
    "facteur_ingest_ack_seconds",
    "Time from request start to acknowledgement (after commit)",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


#: What one write of readings did, counted once it is durable: ("stored", kind), ("quarantined",
#: kind, reason), ("decode_error", reason), ("redated",) -> number.
ReadingCounts = collections.Counter[tuple[str, ...]]


def count_readings(counts: ReadingCounts) -> None:
    """Add a write's counts to the metrics (called once its statements have all succeeded: a write
    that fails and is retried must not count its readings twice)."""
    for key, n in counts.items():
        if key[0] == "stored":
            READINGS.labels(key[1]).inc(n)
        elif key[0] == "quarantined":
            QUARANTINED.labels(key[1], key[2]).inc(n)
        elif key[0] == "decode_error":
            DECODE_ERRORS.labels(key[1]).inc(n)
        elif key[0] == "redated":
            REDATED_BLOCKS.inc(n)
        else:
            raise ValueError(f"unknown reading count {key}")
