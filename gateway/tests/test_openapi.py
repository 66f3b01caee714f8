"""Schemathesis against the gateway's own OpenAPI document (a real gateway process): no 5xx."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok

from gateway.testing import GatewayProcess
from ingest.chunks.batch import CHUNK_MEDIA_TYPE
from ingest.testing import IngestService

schemathesis.serializer.alias(CHUNK_MEDIA_TYPE, "application/octet-stream")


@pytest.mark.timeout(300)
def test_no_server_errors(
    ingest_service: IngestService, gateways: list[GatewayProcess], tmp_path: Path
) -> None:
    _, token = ingest_service.add_gateway()
    g = GatewayProcess(tmp_path / "spool", ingest_service.url, token).start()
    gateways.append(g)
    schema = schemathesis.openapi.from_url(f"{g.url}/openapi.json")
    results = list(schema.get_all_operations())
    assert all(isinstance(r, Ok) for r in results), results
    operations = [r.ok() for r in results if isinstance(r, Ok)]
    assert {op.path for op in operations} >= {"/v1/chunks", "/status", "/health"}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def check(case: Any) -> None:
            case.call_and_validate(base_url=g.url, checks=[not_a_server_error], timeout=30)

        check()
