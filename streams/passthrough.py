"""The bare-stream baseline of ``streamdecide bench``: consume the input topics, produce the same bytes.

Same Faust settings and micro-batching as the decision worker, nothing else, so
the ratio of the two is the cost of deciding.
"""

from __future__ import annotations

import faust

from streams.app import create_app, faust_worker
from streams.cpu_affinity import pin_process
from streams.event_loop import use_event_loop
from streams.gc_policy import freeze_long_lived
from streams.settings import Settings
from streams.take_ahead import take_ahead
from streams.topics import EVENT_TOPICS

PASSTHROUGH_TOPIC = "bench.passthrough"


def build_passthrough(settings: Settings) -> faust.App:
    """A Faust app forwarding every input record unchanged to :data:`PASSTHROUGH_TOPIC`."""
    app, topics = create_app(settings)
    out = app.topic(PASSTHROUGH_TOPIC, key_serializer="raw", value_serializer="raw")
    batching = settings.batching

    for name in EVENT_TOPICS:

        async def passthrough(stream: faust.StreamT) -> None:
            async for events in take_ahead(stream, batching.max_size, batching.window_s, batching.read_ahead):
                for event in events:
                    await out.send(key=event.message.key, value=event.message.value)

        app.agent(topics.inputs[name], name=f"passthrough.{name}")(passthrough)
    return app


def main() -> None:
    """Run the passthrough worker until SIGTERM (settings from the environment)."""
    settings = Settings()
    pin_process(settings.cpu_cores)
    use_event_loop(settings.event_loop)
    worker = faust_worker(build_passthrough(settings), settings)
    freeze_long_lived(settings.gc)
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()
