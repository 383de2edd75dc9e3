"""Kafka security from settings for Faust (aiokafka clients use :func:`streams.admin.kafka_client_kwargs`)."""

from __future__ import annotations

import ssl
import faust
from aiokafka.helpers import create_ssl_context

from streams.settings import Settings


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
