"""Transport security from settings: Kafka for Faust (aiokafka clients use
:func:`streams.admin.kafka_client_kwargs`) and the Triton gRPC channel."""

from __future__ import annotations

import ssl
from typing import Any

import faust
from aiokafka.helpers import create_ssl_context

from streams.settings import Settings, TritonClientSettings

GRPC_MAX_MESSAGE_BYTES = 2**31 - 1
"""tritonclient's own default message size limit (kept when we pass channel options)."""
GRPC_KEEPALIVE_MS = 2**31 - 1
GRPC_KEEPALIVE_TIMEOUT_MS = 20_000
GRPC_INITIAL_BACKOFF_MS = 100


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """The TLS context for SSL / SASL_SSL, or None for plaintext protocols."""
    if not settings.kafka_security_protocol.endswith("SSL"):
        return None
    return create_ssl_context(
        cafile=str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None,
        certfile=str(settings.kafka_ssl_certfile) if settings.kafka_ssl_certfile else None,
        keyfile=str(settings.kafka_ssl_keyfile) if settings.kafka_ssl_keyfile else None,
    )


def faust_credentials(settings: Settings) -> faust.types.auth.CredentialsT | None:
    """Faust ``broker_credentials`` for the configured protocol (None = plaintext).

    Examples
    --------
    >>> faust_credentials(Settings(_env_file=None)) is None
    True
    >>> creds = faust_credentials(Settings(_env_file=None, kafka_security_protocol="SASL_PLAINTEXT",
    ...                                    kafka_sasl_mechanism="PLAIN", kafka_sasl_username="svc",
    ...                                    kafka_sasl_password="secret"))
    >>> type(creds).__name__, creds.username
    ('SASLCredentials', 'svc')
    """
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return None
    context = ssl_context(settings)
    if protocol.startswith("SASL"):
        return faust.SASLCredentials(
            username=settings.kafka_sasl_username,
            password=settings.kafka_sasl_password,
            ssl_context=context,
            mechanism=settings.kafka_sasl_mechanism or "PLAIN",
        )
    return faust.SSLCredentials(context)


def triton_client_kwargs(settings: TritonClientSettings) -> dict[str, Any]:
    """Keyword arguments of ``tritonclient.grpc.aio.InferenceServerClient``: TLS files and channel options.

    The channel reconnects at most ``reconnect_backoff_max_s`` after a failure, so the
    breaker's half-open probe finds a returned server instead of a channel still backing off.

    Examples
    --------
    >>> kw = triton_client_kwargs(TritonClientSettings())
    >>> kw["ssl"], dict(kw["channel_args"])["grpc.max_reconnect_backoff_ms"]
    (False, 1000)
    >>> triton_client_kwargs(TritonClientSettings(tls=True, tls_cafile="ca.pem"))["root_certificates"]
    'ca.pem'
    """
    backoff_ms = int(settings.reconnect_backoff_max_s * 1000)
    return {
        "ssl": settings.tls,
        "root_certificates": str(settings.tls_cafile) if settings.tls_cafile else None,
        "certificate_chain": str(settings.tls_certfile) if settings.tls_certfile else None,
        "private_key": str(settings.tls_keyfile) if settings.tls_keyfile else None,
        "channel_args": [
            ("grpc.max_send_message_length", GRPC_MAX_MESSAGE_BYTES),
            ("grpc.max_receive_message_length", GRPC_MAX_MESSAGE_BYTES),
            ("grpc.keepalive_time_ms", GRPC_KEEPALIVE_MS),
            ("grpc.keepalive_timeout_ms", GRPC_KEEPALIVE_TIMEOUT_MS),
            ("grpc.initial_reconnect_backoff_ms", min(GRPC_INITIAL_BACKOFF_MS, backoff_ms)),
            ("grpc.min_reconnect_backoff_ms", min(GRPC_INITIAL_BACKOFF_MS, backoff_ms)),
            ("grpc.max_reconnect_backoff_ms", backoff_ms),
        ],
    }
