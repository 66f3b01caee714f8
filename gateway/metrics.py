"""Prometheus metrics of the gateway (``/metrics``): every refusal is counted with its reason."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

UPLOADS = Counter(
    "facteur_gateway_uploads_total", "Van uploads, by outcome (stored, retransmission)", ["outcome"]
)
REJECTIONS = Counter("facteur_gateway_upload_rejections_total", "Van uploads refused, by reason", ["reason"])
FORWARDED = Counter("facteur_gateway_forwarded_chunks_total", "Chunks acknowledged by ingest")
FORWARD_REJECTED = Counter(
    "facteur_gateway_forward_rejected_total", "Chunks ingest refused for good", ["reason"]
)
FORWARD_FAILURES = Counter(
    "facteur_gateway_forward_failures_total", "Forward attempts that failed", ["reason"]
)
FORWARDED_BYTES = Counter("facteur_gateway_forwarded_bytes_total", "Bytes sent to ingest")
REGISTRY_SYNCS = Counter("facteur_gateway_registry_syncs_total", "Device key syncs, by outcome", ["outcome"])
BACKLOG_CHUNKS = Gauge("facteur_gateway_backlog_chunks", "Chunks waiting to be forwarded")
BACKLOG_BYTES = Gauge("facteur_gateway_backlog_bytes", "Bytes waiting to be forwarded")
