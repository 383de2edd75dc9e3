"""Streams: settings, topics, the Faust app, the embedded runtime and the CLI."""
