"""Start ``streamdecide refit MODEL`` when a drift alert says the live model went stale.

The refit trains, evaluates and rolls out in its own process, never on the
worker's event loop; it stays in the worker's process group, so stopping the
worker's group stops it too. At most one refit per model runs at a time; an alert for a
model whose refit is still running is logged and dropped (the drift watcher's
cooldown already keeps one shift to one alert). The refit gets ``--since`` the alert's
detection time, so it learns from what was labelled after the drift and replays the rest.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

from schemas.ops import DriftAlert
from streams.runtime import child_env
from streams.settings import Settings

log = logging.getLogger("streamdecide.refit")

REFITTABLE: tuple[str, ...] = ("ctr", "conversion", "fraud")


class RefitLauncher:
    """Runs refit child processes for drift alerts and remembers how they ended."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.running: dict[str, asyncio.Task[int]] = {}
        self.finished: list[tuple[str, int]] = []

    def on_alert(self, alert: DriftAlert) -> bool:
        """Start a refit for the alert's model; False when off, not refittable or already running."""
        model = alert.model
        if not self.settings.refit.auto or model not in REFITTABLE:
            return False
        if model in self.running and not self.running[model].done():
            log.info("refit already running; alert noted", extra={"model": model, "alert_id": alert.alert_id})
            return False
        self.running[model] = asyncio.create_task(self._run(model, alert))
        return True

    async def _run(self, model: str, alert: DriftAlert) -> int:
        logs = Path(self.settings.data_dir) / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        log_path = logs / f"refit-{model}.log"
        since = ["--since", alert.detected_at.isoformat()]  # ADWIN's own change point is coarse: stay after it
        log.warning("drift alert: starting refit",
                    extra={"model": model, "alert_id": alert.alert_id, "since": since[1:], "log": str(log_path)})
        with log_path.open("ab") as sink:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "streams.cli", "refit", model, *since,
                stdout=sink, stderr=sink, env=child_env(self.settings),
            )  # fmt: skip
            try:
                code = await process.wait()
            except asyncio.CancelledError:
                process.terminate()
                await process.wait()
                raise
        self.finished.append((model, code))
        log.warning("refit finished", extra={"model": model, "returncode": code, "promoted": code == 0})
        return code

    async def close(self) -> None:
        """Stop running refits (worker shutdown)."""
        for task in self.running.values():
            task.cancel()
        await asyncio.gather(*self.running.values(), return_exceptions=True)
