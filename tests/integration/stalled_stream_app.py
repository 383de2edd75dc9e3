"""A worker whose searches agent stalls on its first record and whose clicks agent forwards every record.

Built with :func:`streams.app.create_app`, so it consumes with the worker's own settings.
Run by ``test_stalled_stream.py`` as ``python -m tests.integration.stalled_stream_app``.
"""

from __future__ import annotations

import asyncio

import faust

from streams.app import create_app, faust_worker
from streams.settings import Settings
from streams.topics import CLICKS, SEARCHES

FORWARDED_TOPIC = "stalled.forwarded"


def build_app(settings: Settings) -> faust.App:
    """The app: ``events.searches`` never gets past its first record; ``events.clicks`` go to :data:`FORWARDED_TOPIC`."""
    app, topics = create_app(settings)
    forwarded = app.topic(FORWARDED_TOPIC, key_serializer="raw", value_serializer="raw")

    async def stall(stream: faust.StreamT) -> None:
        async for _ in stream:
            await asyncio.Event().wait()

    async def forward(stream: faust.StreamT) -> None:
        async for event in stream.events():
            await forwarded.send(key=event.message.key, value=event.message.value)

    app.agent(topics.inputs[SEARCHES], name="stalled.searches")(stall)
    app.agent(topics.inputs[CLICKS], name="stalled.clicks")(forward)
    return app


if __name__ == "__main__":
    settings = Settings()
    faust_worker(build_app(settings), settings).execute_from_commandline()
