"""Structured JSON logs, one object per line, and keyed hashing of personal data."""

from __future__ import annotations

import logging
import logging.config
from datetime import UTC, datetime
from typing import Any

from schemas.codec import encode
from schemas.pii import keyed_hash

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
LEVELS = {"crit": "CRITICAL", "error": "ERROR", "warn": "WARNING", "info": "INFO", "debug": "DEBUG"}


class JsonFormatter(logging.Formatter):
    """Render a record as one JSON object: time, level, logger, message, then the ``extra`` fields.

    Examples
    --------
    >>> record = logging.makeLogRecord({"msg": "dead-lettered", "levelname": "WARNING", "name": "x", "offset": 7})
    >>> JsonFormatter().format(record).endswith('"logger":"x","message":"dead-lettered","offset":7}')
    True
    """

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        out.update({k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")})
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return encode({k: (v if isinstance(v, str | int | float | bool | None) else str(v)) for k, v in out.items()}).decode()


def logging_config(level: str) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` that sends JSON lines to stderr at ``level`` (faust names)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
        "root": {"level": LEVELS.get(level, level.upper()), "handlers": ["stderr"]},
    }


def setup_logging(level: str) -> None:
    """Configure the root logger for JSON lines (CLI commands outside the Faust worker)."""
    logging.config.dictConfig(logging_config(level))


def hash_pii(value: str, key: str) -> str:
    """Keyed hash (HMAC-SHA256, 16 bytes hex) of a personal identifier: stable, not reversible.

    Examples
    --------
    >>> hash_pii("alice@example.com", "k" * 16) == hash_pii("alice@example.com", "k" * 16)
    True
    >>> len(hash_pii("4111111111111111", "k" * 16))
    32
    """
    return keyed_hash(value, key)
