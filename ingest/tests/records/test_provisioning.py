"""Provisioning files as the firmware reads them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest.records.provisioning import main, provisioning


def test_written_file_matches_the_contract(tmp_path: Path) -> None:
    out = tmp_path / "p.json"
    assert (
        main(["--device", "van-0001", "--ssids", "a,b", "--gateway", "192.168.4.1:8500", "--out", str(out)])
        == 0
    )
    doc = json.loads(out.read_text())
    assert doc["device_id"] == "van-0001" and doc["depot_ssids"] == ["a", "b"]
    assert len(bytes.fromhex(doc["key_hex"])) == 32 and doc["gateway"] == "192.168.4.1:8500"


@pytest.mark.parametrize(
    ("device", "key", "gateway"),
    [("", "ab" * 32, None), ("van 1", "ab" * 32, None), ("v" * 33, "ab" * 32, None), ("van", "ab", None),
     ("van", "zz" * 32, None), ("van", "ab" * 32, "nohost")],
)  # fmt: skip
def test_rejects_bad_values(device: str, key: str, gateway: str | None) -> None:
    with pytest.raises(ValueError):
        provisioning(device, key, ["x"], gateway)
