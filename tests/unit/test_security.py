"""Transport security and listeners come from settings: Kafka SASL/TLS, Triton gRPC TLS, loopback only."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from streams.app import create_app
from streams.embedded.broker import broker_command
from streams.embedded.triton import triton_command
from streams.security import faust_credentials, triton_client_kwargs
from streams.settings import Settings, TritonClientSettings


def test_faust_web_server_is_off_and_metrics_bind_loopback() -> None:
    settings = Settings(_env_file=None, kafka_bootstrap="127.0.0.1:1")
    app, _ = create_app(settings)
    assert app.conf.web_enabled is False
    assert settings.metrics_host == "127.0.0.1"


def test_embedded_services_bind_loopback_only() -> None:
    broker = broker_command(19092)
    assert [a for a in broker if a.startswith("tcp://")] == ["tcp://127.0.0.1:19092"] * 2
    triton = triton_command(Path("repo"), Path("be"), 1, 2, 3, ["ctr"])
    addresses = [a for a in triton if "-address=" in a]
    assert sorted(addresses) == ["--grpc-address=127.0.0.1", "--http-address=127.0.0.1", "--metrics-address=127.0.0.1"]


def test_kafka_sasl_ssl_from_settings() -> None:
    settings = Settings(_env_file=None, kafka_security_protocol="SASL_SSL", kafka_sasl_mechanism="SCRAM-SHA-512",
                        kafka_sasl_username="svc", kafka_sasl_password="secret")  # fmt: skip
    creds = faust_credentials(settings)
    assert type(creds).__name__ == "SASLCredentials" and creds.ssl_context is not None
    assert type(faust_credentials(Settings(_env_file=None, kafka_security_protocol="SSL"))).__name__ == "SSLCredentials"


def test_triton_grpc_tls_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMDECIDE_TRITON__TLS", "true")
    monkeypatch.setenv("STREAMDECIDE_TRITON__TLS_CAFILE", "/etc/triton/ca.pem")
    monkeypatch.setenv("STREAMDECIDE_TRITON__TLS_CERTFILE", "/etc/triton/client.pem")
    monkeypatch.setenv("STREAMDECIDE_TRITON__TLS_KEYFILE", "/etc/triton/client.key")
    kwargs = triton_client_kwargs(Settings(_env_file=None).triton)
    assert kwargs["ssl"] is True and kwargs["root_certificates"] == "/etc/triton/ca.pem"
    assert (kwargs["certificate_chain"], kwargs["private_key"]) == ("/etc/triton/client.pem", "/etc/triton/client.key")
    assert triton_client_kwargs(TritonClientSettings())["ssl"] is False
    with pytest.raises(ValidationError, match="tls is false"):
        TritonClientSettings(tls_cafile="ca.pem")
    with pytest.raises(ValidationError, match="both tls_certfile and tls_keyfile"):
        TritonClientSettings(tls=True, tls_certfile="c.pem")
