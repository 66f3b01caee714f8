"""Provisioning file (written by ingest's registry, `make provision` for a real board):

{"device_id": "van-0001", "key_hex": "<64 hex>", "depot_ssids": ["facteur-depot-01"],
 "gateway": "192.168.4.1:8500"}
"""

import json
from binascii import unhexlify


class ProvisionError(Exception):
    pass


def load(path):
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        raise ProvisionError("unreadable provisioning file: %r" % e)
    return parse(doc)


def parse(doc):
    if not isinstance(doc, dict):
        raise ProvisionError("not an object")
    dev = doc.get("device_id")
    if not isinstance(dev, str) or not 1 <= len(dev) <= 32:
        raise ProvisionError("device_id must be 1..32 ASCII characters")
    for c in dev:
        if not 0x21 <= ord(c) < 0x7F:
            raise ProvisionError("device_id must be printable ASCII")
    key_hex = doc.get("key_hex")
    if not isinstance(key_hex, str) or len(key_hex) != 64:
        raise ProvisionError("key_hex must be 64 hex characters")
    try:
        key = unhexlify(key_hex)
    except ValueError:
        raise ProvisionError("key_hex is not hex")
    ssids = doc.get("depot_ssids") or []
    if not isinstance(ssids, list):
        raise ProvisionError("depot_ssids must be a list")
    return {
        "device_id": dev,
        "key": key,
        "depot_ssids": [s.encode() for s in ssids if isinstance(s, str)],
        "gateway": doc.get("gateway"),
    }
