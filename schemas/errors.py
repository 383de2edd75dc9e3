"""The base exception of streamdecide and the decode error that carries a DLQ reason."""

from __future__ import annotations

from schemas.reasons import DlqReason


class StreamdecideError(Exception):
    """Base of every error raised on purpose by streamdecide."""


class DecodeError(StreamdecideError):
    """An input message that cannot become an event; ``reason`` is a stable code."""

    def __init__(self, reason: DlqReason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail
