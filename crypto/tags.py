"""Per-node tags: what a node stores instead of a pseudonym.

A tag is bound to one node, so the stores of two nodes cannot be joined even though they
hold the same persons (DESIGN.md, "Pseudonymisation").
"""

from __future__ import annotations

import hmac

PSEUDONYM_BYTES = 64
TAG_BYTES = 32
_TAG_LABEL = b"samenloop/v1/tag/"


def node_tag(pseudonym: bytes, node_id: str) -> bytes:
    """tag_i(x) = HMAC-SHA256(key=Ψ(x), msg="samenloop/v1/tag/" || node_id)."""
    if not isinstance(pseudonym, bytes | bytearray) or len(pseudonym) != PSEUDONYM_BYTES:
        raise ValueError(f"pseudonym must be {PSEUDONYM_BYTES} bytes")
    if not node_id:
        raise ValueError("node_id must not be empty")
    return hmac.digest(bytes(pseudonym), _TAG_LABEL + node_id.encode("utf-8"), "sha256")
