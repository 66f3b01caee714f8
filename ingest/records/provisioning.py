"""Write a board's provisioning file (``make provision``): identity, HMAC key, depot SSIDs, gateway.

    python -m ingest.records.provisioning --device van-0001 [--key-hex HEX] [--ssids a,b]
        [--gateway host:port] --out provision-van-0001.json

Without ``--key-hex`` a fresh 32-byte key is drawn; register it with ingest's device registry.
The file's layout is the contract read by ``firmware/app.py`` (``load_provision``).
"""

from __future__ import annotations

import argparse
import json
import re
import secrets
import sys
from pathlib import Path

_DEVICE = re.compile(r"^[\x21-\x7e]{1,32}$")
_KEY = re.compile(r"^[0-9a-fA-F]{64}$")


def provisioning(device_id: str, key_hex: str, ssids: list[str], gateway: str | None) -> dict[str, object]:
    if not _DEVICE.match(device_id):
        raise ValueError("device id must be 1..32 printable ASCII characters")
    if not _KEY.match(key_hex):
        raise ValueError("key must be 64 hex characters (32 bytes)")
    doc: dict[str, object] = {"device_id": device_id, "key_hex": key_hex.lower(), "depot_ssids": ssids}
    if gateway:
        host, _, port = gateway.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError("gateway must be host:port")
        doc["gateway"] = gateway
    return doc


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", required=True)
    ap.add_argument("--key-hex", default="")
    ap.add_argument("--ssids", default="facteur-depot-01")
    ap.add_argument("--gateway", default="")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    key = args.key_hex or secrets.token_hex(32)
    ssids = [s for s in args.ssids.split(",") if s]
    try:
        doc = provisioning(args.device, key, ssids, args.gateway or None)
    except ValueError as exc:
        print(f"provision: {exc}", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc))
    args.out.chmod(0o600)
    print(f"provision: {args.device} -> {args.out} (register key {key[:8]}... with ingest)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
