"""Limits of every field of every gRPC request, in one table, checked at the edge.

A handler refuses a request that exceeds any of them with INVALID_ARGUMENT naming the field,
before any work, log line or audit record: an id of a megabyte never reaches a database or a
log. Ids that end up in logs and audit records are also restricted to a plain alphabet.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from samenloop.crypto import seal
from samenloop.proto.directory import NODE_ID
from samenloop.proto.samenloop.v1 import samenloop_pb2 as pb

# Query and request ids: random hex from the nodes, with "/", "-" and "e<epoch>" suffixes.
ID = re.compile(r"[A-Za-z0-9._:/-]+")
ID_ALPHABET = "letters, digits and . _ : / -"
NODE_ID_ALPHABET = "lower-case letters, digits, _ and -, starting with a letter or digit"
# Blinded elements per Evaluate call (the coordinator's MAX_BATCH).
EVALUATE_MAX_ELEMENTS = 20_000
# Directory entries a check can address: far above any network of ZVHs.
CHECK_MAX_QUERIES = 1_000
SEALED_MAX_BYTES = seal.sealed_size(seal.BUCKETS[-1])


@dataclass(frozen=True)
class FieldLimit:
    """`length`: characters of a string, bytes of a bytes field (of each item, when
    repeated); `items`: entries of a repeated field; `pattern`: what a string may hold."""

    length: int | None = None
    items: int | None = None
    pattern: re.Pattern[str] | None = None
    alphabet: str = ""
    required: bool = False


# Every string, bytes, repeated and message field of every request message. A field that
# is not listed here is refused (tests/test_limits.py checks the table is complete).
REQUEST_FIELDS: dict[str, FieldLimit] = {
    "samenloop.v1.EvaluateRequest.blinded_elements": FieldLimit(
        length=32, items=EVALUATE_MAX_ELEMENTS),
    "samenloop.v1.EvaluateRequest.request_id": FieldLimit(
        length=128, pattern=ID, alphabet=ID_ALPHABET, required=True),
    "samenloop.v1.EvaluateShareRequest.blinded_elements": FieldLimit(
        length=32, items=EVALUATE_MAX_ELEMENTS),
    "samenloop.v1.EvaluateShareRequest.request_id": FieldLimit(
        length=128, pattern=ID, alphabet=ID_ALPHABET, required=True),
    "samenloop.v1.CheckRequest.query_id": FieldLimit(
        length=64, pattern=ID, alphabet=ID_ALPHABET, required=True),
    "samenloop.v1.CheckRequest.queries": FieldLimit(items=CHECK_MAX_QUERIES),
    "samenloop.v1.SealedQuery.node_id": FieldLimit(
        length=63, pattern=NODE_ID, alphabet=NODE_ID_ALPHABET, required=True),
    "samenloop.v1.SealedQuery.sealed": FieldLimit(length=SEALED_MAX_BYTES),
    "samenloop.v1.LookupRequest.query_id": FieldLimit(
        length=64, pattern=ID, alphabet=ID_ALPHABET, required=True),
    "samenloop.v1.LookupRequest.from_node": FieldLimit(
        length=63, pattern=NODE_ID, alphabet=NODE_ID_ALPHABET, required=True),
    "samenloop.v1.LookupRequest.sealed": FieldLimit(length=SEALED_MAX_BYTES),
}

REQUEST_MESSAGES: tuple[Descriptor, ...] = tuple(
    method.input_type for service in pb.DESCRIPTOR.services_by_name.values()
    for method in service.methods)


def refusal(request: Message) -> str | None:
    """None if every field of `request` is within REQUEST_FIELDS, else why not, naming the
    field (never quoting its value)."""
    return _refusal(request, "")


def _bounded(field: Any) -> bool:
    """Fields whose size the wire type alone bounds (numbers, booleans, enums)."""
    return (not field.is_repeated
            and field.type not in (FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_BYTES,
                                   FieldDescriptor.TYPE_MESSAGE))


def _refusal(message: Message, prefix: str) -> str | None:
    for field in message.DESCRIPTOR.fields:
        path = f"{prefix}{field.name}"
        limit = REQUEST_FIELDS.get(field.full_name)
        if limit is None:
            if _bounded(field):
                continue
            return f"{path}: this field is not accepted"
        value = getattr(message, field.name)
        repeated = field.is_repeated
        values = list(value) if repeated else [value]
        if repeated and limit.items is not None and len(values) > limit.items:
            return f"{path}: at most {limit.items} items"
        for index, item in enumerate(values):
            where = f"{path}[{index}]" if repeated else path
            if field.type == FieldDescriptor.TYPE_MESSAGE:
                if not repeated and not message.HasField(field.name):
                    continue
                why = _refusal(item, f"{where}.")
                if why is not None:
                    return why
                continue
            unit = "characters" if field.type == FieldDescriptor.TYPE_STRING else "bytes"
            if limit.length is not None and len(item) > limit.length:
                return f"{where}: at most {limit.length} {unit}"
            if limit.required and not item:
                return f"{where}: required"
            if limit.pattern is not None and item and not limit.pattern.fullmatch(item):
                return f"{where}: only {limit.alphabet}"
    return None
