"""Keyed pseudonyms for NHS numbers (HMAC-SHA256), so records link without the number itself.

The same key gives the same pseudonym for the same person in every delivery; without the key
a pseudonym cannot be reversed or recomputed. The key never reaches the warehouse, logs or
outputs.

`pseudonym` is the definition. The load computes the same digest in DuckDB as it writes a
window's rows (`PSEUDONYM_SQL`: RFC 2104's construction from SHA-256, the key's padded
blocks, `key_blocks`, as query parameters), one vectorised query instead of one Python HMAC
a number; the number itself is never stored.
"""

from __future__ import annotations

import hashlib
import hmac

PSEUDONYM_HEX_CHARS = 32  # 128 bits: collisions are negligible at national scale


def pseudonym(normalised_nhs_number: str, key: bytes) -> str:
    """The pseudonym of one normalised (10 digit) NHS number."""
    digest = hmac.new(key, normalised_nhs_number.encode("ascii"), hashlib.sha256).hexdigest()
    return digest[:PSEUDONYM_HEX_CHARS]


SHA256_BLOCK_BYTES = 64
# HMAC-SHA256(K, m) = SHA256((K0 ^ opad) || SHA256((K0 ^ ipad) || m)), RFC 2104, in DuckDB:
# ? are the outer then the inner key block (key_blocks), {column} the normalised number.
PSEUDONYM_SQL = (
    f"left(sha256(?::BLOB || unhex(sha256(?::BLOB || encode({{column}})))), {PSEUDONYM_HEX_CHARS})"
)


def key_blocks(key: bytes) -> tuple[bytes, bytes]:
    """The outer and inner key blocks of HMAC-SHA256 (RFC 2104): the key (hashed first when
    longer than SHA-256's 64-byte block), padded with zeros to the block, XOR 0x5c and 0x36.
    They are key material: passed to a query as parameters, never written anywhere."""
    if len(key) < 32:
        raise ValueError("the pseudonymisation key must be at least 32 bytes")
    if len(key) > SHA256_BLOCK_BYTES:
        key = hashlib.sha256(key).digest()
    block = key.ljust(SHA256_BLOCK_BYTES, b"\0")
    return bytes(b ^ 0x5C for b in block), bytes(b ^ 0x36 for b in block)
