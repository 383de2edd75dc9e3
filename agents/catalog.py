"""The catalog table: every product and campaign, as the latest record per key.

Each worker holds the whole catalog (like a Kafka Streams GlobalKTable), because
events are partitioned by ``user_id`` while catalog records are keyed by their
own id, so a co-partitioned Faust table could not answer every lookup.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson
from pydantic import ValidationError

from schemas.catalog import Campaign, Product
from schemas.errors import DecodeError
from schemas.reasons import DlqReason
from streams.topics import CAMPAIGNS, PRODUCTS


@dataclass
class CatalogStore:
    """Latest product and campaign records by id; tombstones delete.

    Examples
    --------
    >>> store = CatalogStore()
    >>> store.apply(PRODUCTS, b"p1", b'{"product_id":"p1","title":"Mug","category":"home","currency":"USD",'
    ...             b'"list_price":10,"unit_cost":4,"min_price":8,"max_price":12,"stock":5}')
    >>> store.products["p1"].title
    'Mug'
    >>> store.apply(PRODUCTS, b"p1", None)
    >>> "p1" in store.products
    False
    """

    products: dict[str, Product] = field(default_factory=dict)
    campaigns: dict[str, Campaign] = field(default_factory=dict)
    revision: int = 0
    """Counts applied changes, so whatever is derived from the catalog knows when to rebuild."""

    def apply(self, topic: str, key: bytes | None, value: bytes | None) -> None:
        """Upsert (or delete, for a tombstone) one record from a catalog topic.

        Raises
        ------
        DecodeError
            When the record is not valid; the caller dead-letters it.
        """
        table: dict = self.products if topic == PRODUCTS else self.campaigns
        if value is None:
            if key is not None and table.pop(key.decode("utf-8", "replace"), None) is not None:
                self.revision += 1
            return
        try:
            data = orjson.loads(value)
            if topic == PRODUCTS:
                product = Product.model_validate(data)
                self.products[product.product_id] = product
            elif topic == CAMPAIGNS:
                campaign = Campaign.model_validate(data)
                self.campaigns[campaign.campaign_id] = campaign
            else:
                raise DecodeError(DlqReason.WRONG_TOPIC, f"{topic} is not a catalog topic")
        except (orjson.JSONDecodeError, ValidationError) as exc:
            raise DecodeError(DlqReason.CATALOG_INVALID, str(exc).replace("\n", " ")[:300]) from None
        self.revision += 1
