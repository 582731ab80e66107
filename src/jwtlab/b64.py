"""base64url without padding (RFC 7515 §2), the only encoding a compact JWS uses.

Kept strict on purpose: `decode` refuses padding, the `+/` alphabet, junk characters and
non-zero trailing bits, so that one token has exactly one spelling (security checklist B.15).
"""

from __future__ import annotations

import binascii
import json
import re
from typing import Any

_ALPHABET = re.compile(r"[A-Za-z0-9_-]*\Z")
# What base64.urlsafe_b64encode/-decode do around binascii, done directly: they run on every token segment
# (three per verification), and the wrappers cost more than the conversion itself.
_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")
_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")


def encode(data: bytes) -> str:
    """Encode bytes as unpadded base64url text."""
    return binascii.b2a_base64(data, newline=False).translate(_TO_URLSAFE).rstrip(b"=").decode("ascii")


def decode(text: str) -> bytes:
    """Decode canonical unpadded base64url; raise ValueError for any other spelling."""
    if not _ALPHABET.match(text):
        raise ValueError("not base64url: only A-Z a-z 0-9 - _ are allowed, without '=' padding")
    if len(text) % 4 == 1:
        raise ValueError("not base64url: impossible length")
    # Only A-Z a-z 0-9 - _ reach this line, so this is exactly base64.urlsafe_b64decode of the padded text.
    raw = binascii.a2b_base64((text + "=" * (-len(text) % 4)).encode("ascii").translate(_FROM_URLSAFE))
    if encode(raw) != text:
        raise ValueError("not canonical base64url: the last character has non-zero unused bits")
    return raw


def encode_json(obj: Any) -> str:
    """Compact JSON (no spaces), UTF-8, then base64url — how JWT headers and claims are encoded."""
    return encode(json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def uint_to_b64(n: int) -> str:
    """A big-endian unsigned integer as base64url, as JWK members n, e, d use (RFC 7518 §2)."""
    return encode(n.to_bytes(max(1, (n.bit_length() + 7) // 8), "big"))


def b64_to_uint(text: str) -> int:
    return int.from_bytes(decode(text), "big")
