"""Mutual TLS for every gRPC connection, and the peer identity taken from it.

Clients pin the identity they expect (the node id from the directory, or "coordinator")
through the TLS target name, so a certificate of the network CA for another peer is not
accepted at an address the directory assigns to someone else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import grpc

# A bulk check of 1,000 subjects carries 25 queries of 256 KiB to the coordinator and 25
# answers of 512 KiB back: above gRPC's default 4 MiB per message on both ends.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
SERVER_OPTIONS: tuple[tuple[str, int], ...] = (
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
)

# Reconnect fast: a restarted node must be reached again within a few checks, not after
# gRPC's default backoff of up to two minutes.
MAX_RECONNECT_BACKOFF_SECONDS = 2.0
CHANNEL_OPTIONS: tuple[tuple[str, int], ...] = (
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.min_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", int(MAX_RECONNECT_BACKOFF_SECONDS * 1000)),
    ("grpc.keepalive_time_ms", 30000),
    ("grpc.keepalive_timeout_ms", 5000),
    *SERVER_OPTIONS,
)


@dataclass(frozen=True)
class TlsFiles:
    ca: Path
    cert: Path
    key: Path

    def read(self) -> tuple[bytes, bytes, bytes]:
        return self.ca.read_bytes(), self.cert.read_bytes(), self.key.read_bytes()

    def version(self) -> tuple[int, ...]:
        """Changes when any of the files is replaced (certificate renewal)."""
        try:
            return tuple(p.stat().st_mtime_ns for p in (self.ca, self.cert, self.key))
        except OSError:
            return ()


def server_credentials(tls: TlsFiles) -> grpc.ServerCredentials:
    """Server credentials that demand a client certificate of the network CA and pick up
    renewed files at the next handshake, so a certificate is renewed without downtime."""
    state = {"version": tls.version()}

    def configuration() -> grpc.ServerCertificateConfiguration:
        ca, cert, key = tls.read()
        return grpc.ssl_server_certificate_configuration([(key, cert)], root_certificates=ca)

    def fetch() -> grpc.ServerCertificateConfiguration | None:
        current = tls.version()
        if current == state["version"] or not current:
            return None  # unchanged: keep the configuration in use
        try:
            renewed = configuration()
        except OSError:
            return None
        state["version"] = current
        return renewed

    # grpc documents None from the fetcher as "unchanged"; typeshed's stub leaves None out.
    return grpc.dynamic_ssl_server_credentials(configuration(), fetch,  # type: ignore[arg-type]
                                               require_client_authentication=True)


def _channel_arguments(tls: TlsFiles, expected_peer: str,
                       extra_options: tuple[tuple[str, str | int], ...] = ()
                       ) -> tuple[grpc.ChannelCredentials, tuple[tuple[str, object], ...]]:
    ca, cert, key = tls.read()
    creds = grpc.ssl_channel_credentials(root_certificates=ca, private_key=key,
                                         certificate_chain=cert)
    return creds, (*CHANNEL_OPTIONS, ("grpc.ssl_target_name_override", expected_peer),
                   *extra_options)


def secure_channel(target: str, tls: TlsFiles, expected_peer: str,
                   extra_options: tuple[tuple[str, str | int], ...] = ()) -> grpc.Channel:
    creds, options = _channel_arguments(tls, expected_peer, extra_options)
    return grpc.secure_channel(target, creds, options=options)


def aio_secure_channel(target: str, tls: TlsFiles, expected_peer: str) -> grpc.aio.Channel:
    """The same channel for grpc.aio code; bound to the event loop it is created on."""
    creds, options = _channel_arguments(tls, expected_peer)
    return grpc.aio.secure_channel(target, creds, options=options)


def peer_identity(context: grpc.ServicerContext | grpc.aio.ServicerContext[Any, Any]
                  ) -> str | None:
    """The common name of the authenticated client certificate, if any."""
    # grpc maps each property to a list of values; typeshed's stub says one bytes value.
    auth = cast("Mapping[str, list[bytes]]", context.auth_context())
    values = auth.get("x509_common_name") or []
    return values[0].decode("utf-8", "replace") if values else None


# Trailing metadata of a RESOURCE_EXHAUSTED refusal from the coordinator: milliseconds until
# the same request fits the node's budget again (absent when waiting cannot help).
RETRY_AFTER_MS = "retry-after-ms"
