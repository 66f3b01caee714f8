"""Property-based requests generated from the ingest service's own OpenAPI document: no 5xx.

Schemathesis reads ``/openapi.json`` from the live service (real HTTP, real database) and sends
requests built from it, valid and not, with the admin token on registry routes and a gateway
token elsewhere so the generated bodies reach the handlers, not only the auth check.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok

from ingest.chunks.batch import BATCH_MEDIA_TYPE, CHUNK_MEDIA_TYPE
from ingest.testing import IngestService

schemathesis.serializer.alias(CHUNK_MEDIA_TYPE, "application/octet-stream")
schemathesis.serializer.alias(BATCH_MEDIA_TYPE, "application/octet-stream")

EXAMPLES_PER_OPERATION = 25
OWN_PREFIXES = ("/v1/chunks", "/v1/registry", "/v1/gateway", "/health", "/metrics")


@pytest.mark.timeout(300)
def test_no_server_errors(ingest_service: IngestService) -> None:
    _, gateway_token = ingest_service.add_gateway()
    schema = schemathesis.openapi.from_url(f"{ingest_service.url}/openapi.json")
    results = list(schema.get_all_operations())
    assert all(isinstance(r, Ok) for r in results), results
    # The routes of this part of the service (chunks, registry, health); the query API's routes
    # belong to their own tests.
    operations = [r.ok() for r in results if isinstance(r, Ok) and r.ok().path.startswith(OWN_PREFIXES)]
    assert {op.path for op in operations} >= {"/v1/chunks", "/v1/registry/devices", "/health"}
    for operation in operations:
        token = ingest_service.admin_token if operation.path.startswith("/v1/registry") else gateway_token
        _fuzz(operation, ingest_service.url, token)


def _fuzz(operation: Any, base_url: str, token: str) -> None:
    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: Any) -> None:
        case.call_and_validate(
            base_url=base_url,
            headers={"Authorization": f"Bearer {token}"},
            checks=[not_a_server_error],
            timeout=30,
        )

    check()
