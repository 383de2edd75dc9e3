"""Export the JSON Schema of every message to ``schemas/json/`` (``make schemas``).

The files are generated from the pydantic models and never edited by hand; a
unit test fails when they are stale.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, TypeAdapter

from schemas.catalog import Campaign, Product
from schemas.decisions import BidDecision, FraudDecision, PriceDecision
from schemas.events import ClickEvent, OrderEvent, SearchEvent
from schemas.ops import DlqRecord, DriftAlert, ModelEvent

JSON_DIR = Path(__file__).parent / "json"

SCHEMAS: dict[str, object] = {
    "events.clicks": ClickEvent,
    "events.searches": SearchEvent,
    "events.orders": OrderEvent,
    "catalog.products": Product,
    "catalog.campaigns": Campaign,
    "decisions.bids": BidDecision,
    "decisions.prices": PriceDecision,
    "decisions.fraud": FraudDecision,
    "ops.dlq": DlqRecord,
    "ops.drift-alerts": DriftAlert,
    "ops.model-events": ModelEvent,
}
"""The message type of each topic, by topic name."""

INPUT_TOPICS = frozenset({"events.clicks", "events.searches", "events.orders", "catalog.products", "catalog.campaigns"})
"""Topics whose schema describes what producers may send (validation mode)."""


def schema_documents() -> dict[str, str]:
    """File name → JSON text of each topic's schema (stable key order, trailing newline)."""
    docs = {}
    for topic, model in SCHEMAS.items():
        mode = "validation" if topic in INPUT_TOPICS else "serialization"
        if isinstance(model, type) and issubclass(model, BaseModel):
            schema = model.model_json_schema(mode=mode)
        else:
            schema = TypeAdapter(model).json_schema(mode=mode)
        schema["title"] = topic
        docs[f"{topic}.schema.json"] = json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    return docs


def write_schemas(directory: Path = JSON_DIR) -> list[Path]:
    """Write every schema file; returns the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in schema_documents().items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write_schemas():
        print(path)
