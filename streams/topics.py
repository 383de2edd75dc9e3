"""Topic names of the contract (DESIGN.md §2) and their layout.

Names are constants here and nowhere else. Input topics carry raw bytes (the
ingest step decodes them so that bad ones can go to ``ops.dlq``); everything the
service writes is JSON encoded by :mod:`schemas.codec`.
"""

from __future__ import annotations

from dataclasses import dataclass

CLICKS = "events.clicks"
SEARCHES = "events.searches"
ORDERS = "events.orders"
PRODUCTS = "catalog.products"
CAMPAIGNS = "catalog.campaigns"
BIDS = "decisions.bids"
PRICES = "decisions.prices"
FRAUD = "decisions.fraud"
DLQ = "ops.dlq"
DRIFT_ALERTS = "ops.drift-alerts"
MODEL_EVENTS = "ops.model-events"
LABELLED = "ops.labelled"

EVENT_TOPICS: tuple[str, ...] = (CLICKS, SEARCHES, ORDERS)
CATALOG_TOPICS: tuple[str, ...] = (PRODUCTS, CAMPAIGNS)
DECISION_TOPICS: tuple[str, ...] = (BIDS, PRICES, FRAUD)
OPS_TOPICS: tuple[str, ...] = (DLQ, DRIFT_ALERTS, MODEL_EVENTS, LABELLED)
ALL_TOPICS: tuple[str, ...] = EVENT_TOPICS + CATALOG_TOPICS + DECISION_TOPICS + OPS_TOPICS


@dataclass(frozen=True)
class TopicSpec:
    """How one topic is created."""

    name: str
    partitions: int
    compacted: bool = False


def topic_specs(partitions: int) -> list[TopicSpec]:
    """Every contract topic with its partition count and cleanup policy.

    Event and decision topics share ``partitions`` (co-partitioned by ``user_id``);
    catalog topics are compacted and ops topics have one partition.

    Examples
    --------
    >>> specs = {s.name: s for s in topic_specs(4)}
    >>> specs["events.orders"].partitions, specs["catalog.products"].compacted, specs["ops.dlq"].partitions
    (4, True, 1)
    """
    specs = [TopicSpec(t, partitions) for t in EVENT_TOPICS + DECISION_TOPICS]
    specs += [TopicSpec(t, 1, compacted=True) for t in CATALOG_TOPICS]
    specs += [TopicSpec(t, 1) for t in OPS_TOPICS]
    return specs
