"""Registry records in the database: devices with their keys, gateways with their tokens.

    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        device = await add_device(conn, "van-0001", depot="depot-01", vehicle="AB-123-CD")
        gateway, token = await add_gateway(conn, "gw-depot-01", depot="depot-01")

Keys are 32 random bytes; gateway tokens are random URL-safe strings stored only as SHA-256.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import AsyncConnection

DEVICE_ID = re.compile(r"^[!-~]{1,32}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
KEY_BYTES = 32


class RegistryError(ValueError):
    """A registry request that cannot be done (bad id, duplicate); ``reason`` is a short code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Device:
    device_id: str
    key: bytes
    vehicle: str | None
    depot: str


@dataclass(frozen=True)
class Gateway:
    gateway_id: str
    depot: str


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def parse_key_hex(key_hex: str) -> bytes:
    try:
        key = bytes.fromhex(key_hex)
    except ValueError:
        raise RegistryError("bad_key", "key must be hexadecimal") from None
    if len(key) != KEY_BYTES:
        raise RegistryError("bad_key", f"key must be {KEY_BYTES} bytes ({2 * KEY_BYTES} hex digits)")
    return key


async def add_device(
    conn: AsyncConnection[Any],
    device_id: str,
    *,
    depot: str,
    vehicle: str | None = None,
    key: bytes | None = None,
) -> Device:
    if not DEVICE_ID.match(device_id):
        raise RegistryError("bad_device_id", "device id must be 1..32 printable ASCII characters, no spaces")
    if not depot or _CONTROL.search(depot) or (vehicle and _CONTROL.search(vehicle)):
        raise RegistryError("bad_name", "depot and vehicle must be non-empty, without control characters")
    key = key if key is not None else secrets.token_bytes(KEY_BYTES)
    if len(key) != KEY_BYTES:
        raise RegistryError("bad_key", f"key must be {KEY_BYTES} bytes")
    try:
        await conn.execute(
            "INSERT INTO devices (device_id, key, vehicle, depot) VALUES (%s, %s, %s, %s)",
            (device_id, key, vehicle, depot),
        )
    except psycopg.errors.UniqueViolation:
        raise RegistryError("exists", f"device {device_id} is already registered") from None
    return Device(device_id, key, vehicle, depot)


async def list_devices(conn: AsyncConnection[Any], depot: str | None = None) -> list[Device]:
    cur = await conn.execute(
        "SELECT device_id, key, vehicle, depot FROM devices "
        "WHERE %(depot)s::text IS NULL OR depot = %(depot)s ORDER BY device_id",
        {"depot": depot},
    )
    return [
        Device(str(d), bytes(k), None if v is None else str(v), str(p)) for d, k, v, p in await cur.fetchall()
    ]


async def device_keys(conn: AsyncConnection[Any], device_ids: list[str]) -> dict[str, tuple[bytes, str]]:
    """The HMAC key and the depot of each registered device among ``device_ids``."""
    cur = await conn.execute(
        "SELECT device_id, key, depot FROM devices WHERE device_id = ANY(%s)", (device_ids,)
    )
    return {str(d): (bytes(k), str(depot)) for d, k, depot in await cur.fetchall()}


async def add_gateway(conn: AsyncConnection[Any], gateway_id: str, *, depot: str) -> tuple[Gateway, str]:
    """Register a gateway; returns it and its bearer token (shown once, stored as a digest)."""
    if not DEVICE_ID.match(gateway_id) or not depot or _CONTROL.search(depot):
        raise RegistryError(
            "bad_gateway_id", "gateway id must be 1..32 printable ASCII characters; depot set"
        )
    token = secrets.token_urlsafe(32)
    try:
        await conn.execute(
            "INSERT INTO gateways (gateway_id, token_sha256, depot) VALUES (%s, %s, %s)",
            (gateway_id, token_digest(token), depot),
        )
    except psycopg.errors.UniqueViolation:
        raise RegistryError("exists", f"gateway {gateway_id} is already registered") from None
    return Gateway(gateway_id, depot), token


async def issue_gateway_token(conn: AsyncConnection[Any], gateway_id: str, *, depot: str) -> str:
    """Register the gateway if needed and give it a new token (the old one stops working)."""
    token = secrets.token_urlsafe(32)
    await conn.execute(
        "INSERT INTO gateways (gateway_id, token_sha256, depot) VALUES (%s, %s, %s) "
        "ON CONFLICT (gateway_id) DO UPDATE SET token_sha256 = excluded.token_sha256, depot = excluded.depot",
        (gateway_id, token_digest(token), depot),
    )
    return token


async def get_device(conn: AsyncConnection[Any], device_id: str) -> Device | None:
    cur = await conn.execute(
        "SELECT device_id, key, vehicle, depot FROM devices WHERE device_id = %s", (device_id,)
    )
    row = await cur.fetchone()
    if row is None:
        return None
    d, k, v, p = row
    return Device(str(d), bytes(k), None if v is None else str(v), str(p))


async def authenticate_gateway(conn: AsyncConnection[Any], token: str) -> Gateway | None:
    cur = await conn.execute(
        "UPDATE gateways SET last_seen = now() WHERE token_sha256 = %s RETURNING gateway_id, depot",
        (token_digest(token),),
    )
    row = await cur.fetchone()
    return None if row is None else Gateway(str(row[0]), str(row[1]))


def provisioning(device: Device, depot_ssids: list[str], gateway: str) -> dict[str, object]:
    """The provisioning document the firmware reads (see ``firmware/``)."""
    return {
        "device_id": device.device_id,
        "key_hex": device.key.hex(),
        "depot_ssids": depot_ssids,
        "gateway": gateway,
    }


def write_provisioning(path: Path, device: Device, depot_ssids: list[str], gateway: str) -> None:
    """Write the provisioning file atomically and readable by its owner only (it holds the key)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(provisioning(device, depot_ssids, gateway), indent=2) + "\n")
    tmp.chmod(0o600)
    tmp.replace(path)
