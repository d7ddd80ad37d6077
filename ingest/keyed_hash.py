"""HMAC-SHA256 as a native Spark column: Spark SQL has sha2 but no hmac function.

HMAC(K, m) = H((K' xor opad) || H((K' xor ipad) || m)) with K' the key padded to the
64-byte SHA-256 block (hashed first when longer). The padded keys are computed once in
Python and enter the plan as hex literals, so no UDF and no key-dependent Python per row.
"""

from __future__ import annotations

import hashlib

from pyspark.sql import Column
from pyspark.sql import functions as F

BLOCK_BYTES = 64


def _padded_keys(key: bytes) -> tuple[str, str]:
    if len(key) > BLOCK_BYTES:
        key = hashlib.sha256(key).digest()
    key = key.ljust(BLOCK_BYTES, b"\0")
    inner = bytes(b ^ 0x36 for b in key)
    outer = bytes(b ^ 0x5C for b in key)
    return inner.hex(), outer.hex()


def hmac_sha256_hex(text: Column, key: bytes) -> Column:
    """Lowercase hex HMAC-SHA256 of the UTF-8 bytes of ``text`` (null stays null)."""
    inner_hex, outer_hex = _padded_keys(key)
    inner = F.unhex(F.sha2(F.concat(F.unhex(F.lit(inner_hex)), F.encode(text, "UTF-8")), 256))
    return F.sha2(F.concat(F.unhex(F.lit(outer_hex)), inner), 256)
