"""gRPC channel settings and call deadlines shared by the sync and asyncio clients."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import grpc

MAX_MESSAGE_BYTES = 100 * 1024 * 1024


@dataclass(frozen=True)
class Deadlines:
    """Default per-call timeouts in seconds (None: no deadline), by kind of gateway call."""

    evaluate: float | None = 5.0
    endorse: float | None = 15.0
    submit: float | None = 5.0
    # The gateway holds CommitStatus open until the transaction is in a block, so it waits for ordering.
    commit_status: float | None = 60.0
    # Event streams are long-lived: no deadline unless asked for.
    chaincode_events: float | None = None


def channel_options(server_name_override: str | None = None) -> list[tuple[str, Any]]:
    options: list[tuple[str, Any]] = [
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        # Peers enforce a 60 s minimum ping interval (peer.keepalive.minInterval) and answer
        # faster pings with GOAWAY "too_many_pings"; 120 s stays clear of it.
        ("grpc.keepalive_time_ms", 120_000),
        ("grpc.keepalive_timeout_ms", 20_000),
        # Peers permit pings without active streams, which keeps idle connections alive behind NAT.
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
        # A peer restarts in seconds (an upgrade, a renewal): dial it again within 2 s of its
        # return, not after gRPC's backoff, which grows to 120 s while the peer is away and fails
        # every call at once meanwhile (seen with both peers of an org rolled one after the other).
        ("grpc.max_reconnect_backoff_ms", 2_000),
    ]
    if server_name_override:
        options.append(("grpc.ssl_target_name_override", server_name_override))
    return options


def _pem(data: bytes | str | None) -> bytes | None:
    if data is None:
        return None
    return data.encode() if isinstance(data, str) else bytes(data)


def channel_credentials(
    tls_root_cert_pem: bytes | str | None,
    tls_client_cert_pem: bytes | str | None = None,
    tls_client_key_pem: bytes | str | None = None,
) -> grpc.ChannelCredentials | None:
    """TLS credentials, or None for plaintext; a client cert/key pair is only needed for mutual TLS."""
    if tls_root_cert_pem is None:
        if tls_client_cert_pem is not None or tls_client_key_pem is not None:
            raise ValueError("a TLS client certificate needs tls_root_cert_pem (plaintext has no client auth)")
        return None
    if (tls_client_cert_pem is None) != (tls_client_key_pem is None):
        raise ValueError("mutual TLS needs both tls_client_cert_pem and tls_client_key_pem")
    return grpc.ssl_channel_credentials(
        root_certificates=_pem(tls_root_cert_pem),
        private_key=_pem(tls_client_key_pem),
        certificate_chain=_pem(tls_client_cert_pem),
    )


class Budget:
    """An overall deadline split across the steps of a composite call (endorse, submit, commit status).

    Without a timeout each step keeps its own default deadline (left() returns None).
    """

    def __init__(self, timeout: float | None) -> None:
        self._end = None if timeout is None else time.monotonic() + timeout

    def left(self) -> float | None:
        if self._end is None:
            return None
        return max(0.0, self._end - time.monotonic())
