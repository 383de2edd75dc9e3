"""One lazily created Triton gRPC aio client: what the scorer and the rollout's model control share."""

from __future__ import annotations

from typing import Any

import tritonclient.grpc.aio as grpcclient


class LazyTritonClient:
    """Holds the gRPC aio client of ``url``, created on first use inside the running event loop.

    The aio channel binds to the loop that creates it, so it cannot be made in ``__init__``
    (often called before the loop runs). ``client_kwargs`` carries TLS and channel options
    (:func:`streams.security.triton_client_kwargs`).

    Examples
    --------
    >>> holder = LazyTritonClient("127.0.0.1:1", {})
    >>> holder._client is None
    True
    """

    def __init__(self, url: str, client_kwargs: dict[str, Any]) -> None:
        self.url = url
        self.client_kwargs = client_kwargs
        self._client: grpcclient.InferenceServerClient | None = None

    @property
    def client(self) -> grpcclient.InferenceServerClient:
        """The gRPC aio client (created now if this is its first use)."""
        if self._client is None:
            self._client = grpcclient.InferenceServerClient(self.url, **self.client_kwargs)
        return self._client

    async def close(self) -> None:
        """Close the channel (the next use opens a new one)."""
        if self._client is not None:
            await self._client.close()
            self._client = None
