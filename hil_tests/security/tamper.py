"""Ways to spoil a real chunk, each named, with the refusal every hop must answer.

A chunk is ``header | blocks | mac`` (``firmware/FORMAT.md``). The tampering here is what an
attacker or a broken link could send: no MAC, a MAC under another key, altered contents whose CRCs
are recomputed (so only the MAC can tell), other seqs or another van's id under the original MAC,
cuts at any byte, flipped bits, bytes appended.

    for name, bad, (status, reason) in spoiled(chunk_bytes, key, other_van="van-x"):
        ...
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import struct

from ingest.records.envelope import MAC_SIZE, build_block, build_chunk, parse_chunk

#: (HTTP status, error reason) for a malformed chunk and for a bad signature, the same at both hops.
MALFORMED = 400
BAD_MAC = (401, "bad_mac")


def resign(signed_part: bytes, key: bytes) -> bytes:
    return signed_part + hmac.new(key, signed_part, hashlib.sha256).digest()


def reblock(body: bytes, *, payload_xor: int = 0, seq_shift: int = 0, device: str | None = None) -> bytes:
    """The chunk rebuilt with valid CRCs after a change, signed with a throwaway key, then given the
    ORIGINAL MAC: well formed, but not what the van signed."""
    chunk = parse_chunk(body)
    blocks = []
    for i, b in enumerate(chunk.blocks):
        payload = bytearray(b.payload)
        if i == 0 and payload_xor:
            payload[len(payload) // 2] ^= payload_xor
        blocks.append(
            build_block(seq=b.seq + seq_shift, boot_id=b.boot_id, payload=bytes(payload), flags=b.flags)
        )
    rebuilt = build_chunk(device or chunk.device_id, secrets.token_bytes(32), blocks)
    return rebuilt[:-MAC_SIZE] + chunk.mac


def spoiled(body: bytes, key: bytes, *, other_van: str) -> list[tuple[str, bytes, tuple[int, str | None]]]:
    """Named bad variants of ``body`` (a good chunk signed with ``key``), with (status, reason);
    reason None: any malformed-chunk reason, the cut decides which."""
    chunk = parse_chunk(body)
    signed = chunk.signed_part
    header = len(signed) - len(chunk.blocks_bytes)
    first_block_end = header + len(chunk.blocks[0].raw)
    out: list[tuple[str, bytes, tuple[int, str | None]]] = [
        ("unsigned: MAC missing", signed, (MALFORMED, "truncated")),
        ("unsigned: MAC zeroed", signed + bytes(MAC_SIZE), BAD_MAC),
        ("forged: signed with another key", resign(signed, secrets.token_bytes(32)), BAD_MAC),
        ("forged: payload altered, CRC fixed", reblock(body, payload_xor=0x5A), BAD_MAC),
        ("forged: seqs moved, CRCs fixed", reblock(body, seq_shift=1000), BAD_MAC),
        ("forged: another van's id", reblock(body, device=other_van), BAD_MAC),
        ("forged: MAC bit flipped", body[:-1] + bytes([body[-1] ^ 1]), BAD_MAC),
        ("altered: payload bit, CRC not fixed", _flip(body, header + 20), (MALFORMED, "bad_crc")),
        ("altered: byte appended", body + b"\x00", (MALFORMED, "trailing_bytes")),
        ("altered: chunk magic", b"XCH1" + body[4:], (MALFORMED, "bad_magic")),
        ("altered: header seqs", _seqs(body, chunk.first_seq + 1, chunk.last_seq + 1), (MALFORMED, None)),
    ]
    for cut in sorted({0, 3, 5, 6, header - 1, header, header + 5, first_block_end, len(body) - MAC_SIZE,
                       len(body) - 1}):  # fmt: skip
        out.append((f"truncated at byte {cut}", body[:cut], (MALFORMED, None)))
    return out


def _flip(body: bytes, at: int) -> bytes:
    return body[:at] + bytes([body[at] ^ 0x10]) + body[at + 1 :]


def _seqs(body: bytes, first: int, last: int) -> bytes:
    """The chunk header's first/last seq rewritten (blocks and MAC untouched)."""
    at = 6 + body[5]
    return body[:at] + struct.pack("<II", first, last) + body[at + 8 :]
