"""Schemathesis on both services' OpenAPI documents, with credentials so requests reach the
handlers: no 5xx, and no partial write: after every refused request (4xx) every table's row count
(and the gateway's spool) is what it was before it.

The no-5xx property alone is also checked per service in ``ingest/tests/openapi`` and
``gateway/tests/test_openapi.py``; here each generated request is followed by the row counts.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.core.result import Ok

from hil_tests.faults_server.support import row_counts
from hil_tests.security.conftest import Depots
from ingest.chunks.batch import BATCH_MEDIA_TYPE, CHUNK_MEDIA_TYPE

pytestmark = pytest.mark.timeout(600)

schemathesis.serializer.alias(CHUNK_MEDIA_TYPE, "application/octet-stream")
schemathesis.serializer.alias(BATCH_MEDIA_TYPE, "application/octet-stream")

EXAMPLES = 10 * (10 if os.environ.get("FACTEUR_HYPOTHESIS") == "explore" else 1)
#: The write side of each service (the query API's reads have their own tests).
PREFIXES = ("/v1/chunks", "/v1/registry", "/v1/gateway")


def test_generated_requests_no_5xx_and_no_partial_write(depots: Depots, tally: Counter[str]) -> None:
    ingest, gw = depots.ingest, depots.a.gateway
    gw.wait_drained()

    def spool() -> tuple[object, ...]:
        s = gw.status()
        return s["backlog_chunks"], s["backlog_bytes"], len(s["vans"])  # type: ignore[arg-type]

    for name, base in (("ingest", ingest.url), ("gateway", gw.url)):
        results = list(schemathesis.openapi.from_url(f"{base}/openapi.json").get_all_operations())
        assert all(isinstance(r, Ok) for r in results), results
        ops = [r.ok() for r in results if r.ok().path.startswith(PREFIXES)]
        assert any(op.path == "/v1/chunks" for op in ops)
        for op in ops:
            token = ingest.admin_token if op.path.startswith("/v1/registry") else depots.a.token
            headers = {"Authorization": f"Bearer {token}"} if name == "ingest" else {}
            label = f"{name} {op.method.upper()} {op.path}: generated request"
            _fuzz(
                op,
                base_url=base,
                headers=headers,
                label=label,
                tally=tally,
                snapshot=lambda: (row_counts(ingest.database_url), spool()),
            )


def _fuzz(
    operation: Any,
    *,
    base_url: str,
    headers: dict[str, str],
    label: str,
    tally: Counter[str],
    snapshot: Any,
) -> None:
    @given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def check(case: Any) -> None:
        before = snapshot()
        response = case.call(base_url=base_url, headers=headers, timeout=30)
        assert response.status_code < 500, (label, response.status_code, response.text)
        if response.status_code >= 400:
            assert snapshot() == before, (label, response.status_code, response.text)
            tally[label.replace("generated request", "refused generated request")] += 1
        else:
            tally[label] += 1

    check()
