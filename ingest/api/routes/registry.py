"""The registry over HTTP: devices and gateways (admin token), and the device list gateways sync.

``/v1/registry/...`` needs ``Authorization: Bearer <FACTEUR_ADMIN_TOKEN>``;
``GET /v1/gateway/devices`` needs a gateway's own token and returns the keys of its depot's vans,
which the gateway caches to verify uploads while the WAN is down.
"""

from __future__ import annotations

import re
from typing import Annotated

import psycopg
from fastapi import APIRouter, Path, Query
from psycopg_pool import PoolTimeout
from pydantic import BaseModel, Field

from ingest.api.deps import AdminDep, GatewayDep, PoolDep, SettingsDep, retry_later
from ingest.api.errors import ApiError, error_responses
from ingest.registry import store
from ingest.registry.store import RegistryError

router = APIRouter(tags=["registry"])

#: Names (depots, vehicles, hosts): printable, no control characters (PostgreSQL text refuses NUL).
NAME = r"^[^\x00-\x1f\x7f]{1,64}$"


class DeviceIn(BaseModel):
    device_id: str = Field(pattern=r"^[!-~]{1,32}$")
    depot: str = Field(pattern=NAME)
    vehicle: str | None = Field(default=None, pattern=NAME)
    #: 64 hex digits; a random key is generated when omitted.
    key_hex: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{64}$")


class DeviceOut(BaseModel):
    device_id: str
    depot: str
    vehicle: str | None
    key_hex: str


class GatewayIn(BaseModel):
    gateway_id: str = Field(pattern=r"^[!-~]{1,32}$")
    depot: str = Field(pattern=NAME)


class GatewayOut(BaseModel):
    gateway_id: str
    depot: str
    #: Shown once; only its digest is stored.
    token: str


class Provisioning(BaseModel):
    device_id: str
    key_hex: str
    depot_ssids: list[str]
    gateway: str


class GatewayDevices(BaseModel):
    gateway_id: str
    depot: str
    devices: list[DeviceOut]


def _out(d: store.Device) -> DeviceOut:
    return DeviceOut(device_id=d.device_id, depot=d.depot, vehicle=d.vehicle, key_hex=d.key.hex())


_ERRORS = error_responses(401, 409, 422, 503)


@router.post("/v1/registry/devices", status_code=201, response_model=DeviceOut, responses=_ERRORS)
async def add_device(body: DeviceIn, _: AdminDep, pool: PoolDep, settings: SettingsDep) -> DeviceOut:
    try:
        async with pool.connection(timeout=settings.write_wait_seconds) as conn:
            key = store.parse_key_hex(body.key_hex) if body.key_hex else None
            device = await store.add_device(
                conn, body.device_id, depot=body.depot, vehicle=body.vehicle, key=key
            )
    except RegistryError as exc:
        raise ApiError(409 if exc.reason == "exists" else 422, exc.reason, exc.detail) from None
    except (PoolTimeout, psycopg.OperationalError) as exc:
        raise retry_later(settings, f"database unavailable: {type(exc).__name__}") from None
    return _out(device)


@router.get("/v1/registry/devices", response_model=list[DeviceOut], responses=_ERRORS)
async def list_devices(
    _: AdminDep,
    pool: PoolDep,
    settings: SettingsDep,
    depot: Annotated[str | None, Query(pattern=NAME)] = None,
) -> list[DeviceOut]:
    try:
        async with pool.connection(timeout=settings.write_wait_seconds) as conn:
            return [_out(d) for d in await store.list_devices(conn, depot)]
    except (PoolTimeout, psycopg.OperationalError) as exc:
        raise retry_later(settings, f"database unavailable: {type(exc).__name__}") from None


@router.get(
    "/v1/registry/devices/{device_id}/provisioning",
    response_model=Provisioning,
    responses=error_responses(401, 404, 422, 503),
)
async def provisioning(
    device_id: Annotated[str, Path(pattern=r"^[!-~]{1,32}$")],
    _: AdminDep,
    pool: PoolDep,
    settings: SettingsDep,
    gateway: Annotated[str, Query(pattern=NAME, description="host:port of the depot gateway")],
    ssid: Annotated[list[str] | None, Query(max_length=16, description="depot Wi-Fi SSIDs")] = None,
) -> Provisioning:
    if any(not re.match(NAME, s) for s in ssid or []):
        raise ApiError(422, "invalid_request", "ssid: names are 1..64 characters, no control characters")
    try:
        async with pool.connection(timeout=settings.write_wait_seconds) as conn:
            device = await store.get_device(conn, device_id)
    except (PoolTimeout, psycopg.OperationalError) as exc:
        raise retry_later(settings, f"database unavailable: {type(exc).__name__}") from None
    if device is None:
        raise ApiError(404, "unknown_device", f"{device_id} is not registered")
    return Provisioning.model_validate(store.provisioning(device, ssid or [], gateway))


@router.post("/v1/registry/gateways", status_code=201, response_model=GatewayOut, responses=_ERRORS)
async def add_gateway(body: GatewayIn, _: AdminDep, pool: PoolDep, settings: SettingsDep) -> GatewayOut:
    try:
        async with pool.connection(timeout=settings.write_wait_seconds) as conn:
            gateway, token = await store.add_gateway(conn, body.gateway_id, depot=body.depot)
    except RegistryError as exc:
        raise ApiError(409 if exc.reason == "exists" else 422, exc.reason, exc.detail) from None
    except (PoolTimeout, psycopg.OperationalError) as exc:
        raise retry_later(settings, f"database unavailable: {type(exc).__name__}") from None
    return GatewayOut(gateway_id=gateway.gateway_id, depot=gateway.depot, token=token)


@router.get("/v1/gateway/devices", response_model=GatewayDevices, responses=error_responses(401, 503))
async def gateway_devices(gateway: GatewayDep, pool: PoolDep, settings: SettingsDep) -> GatewayDevices:
    """The vans of the calling gateway's depot, with their keys (the gateway's registry cache)."""
    try:
        async with pool.connection(timeout=settings.write_wait_seconds) as conn:
            devices = await store.list_devices(conn, gateway.depot)
    except (PoolTimeout, psycopg.OperationalError) as exc:
        raise retry_later(settings, f"database unavailable: {type(exc).__name__}") from None
    return GatewayDevices(
        gateway_id=gateway.gateway_id, depot=gateway.depot, devices=[_out(d) for d in devices]
    )
