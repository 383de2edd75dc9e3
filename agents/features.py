"""Feature vectors for the ``ctr``, ``conversion`` and ``fraud`` models.

The same functions build training rows (``triton_models``) and serving rows
(the agents), so the two can never drift apart. Each model takes one FP32
input ``FEATURES`` of shape ``[rows, N_*_FEATURES]`` and returns ``PROBA``
of shape ``[rows, 1]``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache

import numpy as np

from schemas.catalog import Campaign, Product
from schemas.common import CATEGORIES, KNOWN_CHANNELS

FEATURES_TENSOR = "FEATURES"
PROBA_TENSOR = "PROBA"

CTR_SCENES: tuple[str, ...] = ("search", "browse", "product")
PAYMENT_METHODS: tuple[str, ...] = ("card", "wallet", "bank_transfer", "cod", "gift_card")
LANGUAGES_CACHED = 4096
"""Locales and campaign locale lists whose languages are kept (a slot asks once per candidate campaign)."""


def one_hot(value: str | None, vocabulary: tuple[str, ...], other: bool = True) -> list[float]:
    """One-hot of ``value`` over ``vocabulary`` (plus a trailing 'other' slot).

    Examples
    --------
    >>> one_hot("app", ("web", "app"))
    [0.0, 1.0, 0.0]
    >>> one_hot("tv", ("web", "app"))
    [0.0, 0.0, 1.0]
    >>> one_hot(None, ("web", "app"), other=False)
    [0.0, 0.0]
    """
    out = [0.0] * (len(vocabulary) + (1 if other else 0))
    if value in vocabulary:
        out[vocabulary.index(value)] = 1.0
    elif other and value is not None:
        out[-1] = 1.0
    return out


def hour_of_day(ts: datetime) -> list[float]:
    """Hour of day on the unit circle, so 23:00 sits next to 00:00.

    Examples
    --------
    >>> from datetime import UTC
    >>> [round(v, 3) for v in hour_of_day(datetime(2026, 1, 1, 6, tzinfo=UTC))]
    [1.0, 0.0]
    """
    angle = 2 * math.pi * (ts.hour + ts.minute / 60) / 24
    return [math.sin(angle), math.cos(angle)]


def locale_matches(locale: str | None, campaign: Campaign) -> float:
    """1.0 when the campaign targets the event's language (or targets every locale).

    Examples
    --------
    >>> c = Campaign(campaign_id="c", ad_id="a", category="toys", locales=["zh-CN"], max_cpc=1, daily_budget=9, currency="USD")
    >>> locale_matches("zh-TW", c), locale_matches("en-US", c), locale_matches(None, c)
    (1.0, 0.0, 0.0)
    """
    if not campaign.locales:
        return 1.0
    if locale is None:
        return 0.0
    return 1.0 if _language(locale) in _languages(tuple(campaign.locales)) else 0.0


@lru_cache(maxsize=LANGUAGES_CACHED)
def _language(locale: str) -> str:
    """The language of ``locale``, lower case (``"zh-TW"`` → ``"zh"``)."""
    return locale.split("-")[0].lower()


@lru_cache(maxsize=LANGUAGES_CACHED)
def _languages(locales: tuple[str, ...]) -> frozenset[str]:
    """The languages of a campaign's ``locales``."""
    return frozenset(_language(locale) for locale in locales)


N_CTR_FEATURES = len(KNOWN_CHANNELS) + 1 + len(CTR_SCENES) + 2 * len(CATEGORIES) + 1 + 2 + 3
_CTR_SCENE = len(KNOWN_CHANNELS) + 1
_CTR_CAMPAIGN_CATEGORY = _CTR_SCENE + len(CTR_SCENES)
_CTR_MATCH = _CTR_CAMPAIGN_CATEGORY + 2 * len(CATEGORIES)
_CTR_CONTEXT_CATEGORY = _CTR_CAMPAIGN_CATEGORY + len(CATEGORIES)
_CTR_HOUR = _CTR_MATCH + 1
_CTR_FLOOR = _CTR_HOUR + 2
_CTR_LOCALE, _CTR_MAX_CPC = N_CTR_FEATURES - 2, N_CTR_FEATURES - 1
CTR_SLOT_ROWS_CACHED = 1024
"""Slot rows kept per (channel, scene, category): the known values make 135, unknown channels take the rest."""
_CATEGORY_INDEX = {category: i for i, category in enumerate(CATEGORIES)}


def ctr_feature_block(
    *,
    channel: str,
    scene: str,
    ts: datetime,
    locale: str | None,
    floor_cpm: float,
    context_category: str | None,
    campaigns: Sequence[Campaign],
) -> np.ndarray:
    """Click-probability features of one ad slot with each of ``campaigns``: FP32 ``[len(campaigns), N_CTR_FEATURES]``.

    Columns: channel, scene, the campaign's category, the slot's category (one-hots),
    whether the two match, hour of day, ``log1p(floor_cpm)``, whether the campaign targets
    the locale, ``log(max_cpc)``. The slot's part is built once and copied to every row.
    Training (:mod:`triton_models.datasets`) builds its rows here too.

    Examples
    --------
    >>> from datetime import UTC
    >>> cs = [Campaign(campaign_id=c, ad_id="a", category=c, locales=[], max_cpc=2, daily_budget=9, currency="USD")
    ...       for c in ("toys", "books")]
    >>> block = ctr_feature_block(channel="web", scene="search", ts=datetime(2026, 1, 1, tzinfo=UTC), locale="en",
    ...                           floor_cpm=1.0, context_category="toys", campaigns=cs)
    >>> block.shape == (2, N_CTR_FEATURES), block[:, _CTR_MATCH].tolist()
    (True, [1.0, 0.0])
    """
    n = len(campaigns)
    out = np.empty((n, N_CTR_FEATURES), dtype=np.float32)
    out[:] = _ctr_slot_row(channel, scene, context_category)
    out[:, _CTR_HOUR : _CTR_HOUR + 2] = hour_of_day(ts)
    out[:, _CTR_FLOOR] = math.log1p(floor_cpm)
    for row, campaign in enumerate(campaigns):
        index = _CATEGORY_INDEX.get(campaign.category)
        if index is not None:
            out[row, _CTR_CAMPAIGN_CATEGORY + index] = 1.0
    out[:, _CTR_MATCH] = [1.0 if context_category == campaign.category else 0.0 for campaign in campaigns]
    out[:, _CTR_LOCALE] = [locale_matches(locale, campaign) for campaign in campaigns]
    out[:, _CTR_MAX_CPC] = [math.log(campaign.max_cpc) for campaign in campaigns]
    return out


@lru_cache(maxsize=CTR_SLOT_ROWS_CACHED)
def _ctr_slot_row(channel: str, scene: str, context_category: str | None) -> np.ndarray:
    """The columns of a ctr row that only the slot's channel, scene and category set (the rest 0); read-only."""
    row = np.zeros(N_CTR_FEATURES, dtype=np.float32)
    row[:_CTR_SCENE] = one_hot(channel, KNOWN_CHANNELS)
    row[_CTR_SCENE:_CTR_CAMPAIGN_CATEGORY] = one_hot(scene, CTR_SCENES, other=False)
    row[_CTR_CONTEXT_CATEGORY:_CTR_MATCH] = one_hot(context_category, CATEGORIES, other=False)
    row.flags.writeable = False
    return row


def conversion_features(*, channel: str, ts: datetime, product: Product, prices: np.ndarray) -> np.ndarray:
    """Purchase-probability features of one product view at each candidate price.

    Returns an array of shape ``[len(prices), N_CONVERSION_FEATURES]``: the price
    enters as ``log(price / list_price)``, so elasticity is one learned slope.

    Examples
    --------
    >>> from datetime import UTC
    >>> p = Product(product_id="p", title="t", category="home", currency="USD", list_price=10,
    ...             unit_cost=5, min_price=8, max_price=12, stock=3)
    >>> conversion_features(channel="app", ts=datetime(2026, 1, 1, tzinfo=UTC), product=p,
    ...                     prices=np.array([8.0, 10.0])).shape
    (2, 18)
    """
    return conversion_view_rows(conversion_product_rows(product, prices), channel=channel, ts=ts)


def conversion_product_rows(product: Product, prices: np.ndarray) -> np.ndarray:
    """The columns of :func:`conversion_features` that depend only on the product and its prices (the view's are 0).

    A product's candidate prices rarely change, so pricing keeps these rows per product and
    adds each view's channel and hour with :func:`conversion_view_rows`. Read-only.

    Examples
    --------
    >>> p = Product(product_id="p", title="t", category="home", currency="USD", list_price=10,
    ...             unit_cost=5, min_price=8, max_price=12, stock=3)
    >>> rows = conversion_product_rows(p, np.array([8.0, 10.0]))
    >>> [round(v, 3) for v in rows[:, 0].tolist()], float(rows[:, _CONVERSION_CHANNEL:].sum())
    ([-0.223, 0.0], 0.0)
    """
    rel = np.log(np.asarray(prices, dtype=np.float64) / product.list_price).astype(np.float32)
    out = np.zeros((len(rel), N_CONVERSION_FEATURES), dtype=np.float32)
    out[:, 0] = rel
    out[:, 1:_CONVERSION_CHANNEL] = [*one_hot(product.category, CATEGORIES, other=False), math.log(product.list_price)]
    out.flags.writeable = False
    return out


def conversion_view_rows(product_rows: np.ndarray, *, channel: str, ts: datetime) -> np.ndarray:
    """:func:`conversion_features` from a product's :func:`conversion_product_rows` and the view's channel and time."""
    out = product_rows.copy()
    out[:, _CONVERSION_CHANNEL:] = [*one_hot(channel, KNOWN_CHANNELS), *hour_of_day(ts)]
    return out


N_CONVERSION_FEATURES = 1 + len(CATEGORIES) + 1 + len(KNOWN_CHANNELS) + 1 + 2
_CONVERSION_CHANNEL = 2 + len(CATEGORIES)


def fraud_features(
    *,
    channel: str,
    ts: datetime,
    amount: float,
    n_items: int,
    account_age_days: int | None,
    payment_method: str,
    has_card_hash: bool,
    billing_country: str | None,
    shipping_country: str | None,
    country: str | None,
) -> list[float]:
    """Chargeback-risk features of one order (``n_items`` = number of order lines).

    Examples
    --------
    >>> from datetime import UTC
    >>> row = fraud_features(channel="web", ts=datetime(2026, 1, 1, tzinfo=UTC), amount=120.0, n_items=2,
    ...                      account_age_days=0, payment_method="card", has_card_hash=True,
    ...                      billing_country="US", shipping_country="NG", country="US")
    >>> len(row) == N_FRAUD_FEATURES, row[4]
    (True, 1.0)
    """
    age = account_age_days
    return [
        math.log1p(amount),
        math.log1p(n_items),
        math.log1p(age) if age is not None else 0.0,
        1.0 if age is None else 0.0,
        1.0 if age is not None and age < 1 else 0.0,
        1.0 if billing_country and shipping_country and billing_country != shipping_country else 0.0,
        1.0 if country and shipping_country and country != shipping_country else 0.0,
        0.0 if has_card_hash else 1.0,
        *one_hot(payment_method, PAYMENT_METHODS),
        *one_hot(channel, KNOWN_CHANNELS),
        *hour_of_day(ts),
    ]


N_FRAUD_FEATURES = 8 + len(PAYMENT_METHODS) + 1 + len(KNOWN_CHANNELS) + 1 + 2

MODEL_FEATURES: dict[str, int] = {
    "ctr": N_CTR_FEATURES,
    "conversion": N_CONVERSION_FEATURES,
    "fraud": N_FRAUD_FEATURES,
}
"""Input width of each served model (checked against Triton's config at start-up)."""

_FRAUD_PAYMENT = 8
SEGMENTS: dict[str, tuple[slice, tuple[str, ...]]] = {
    "ctr": (slice(_CTR_CAMPAIGN_CATEGORY, _CTR_CAMPAIGN_CATEGORY + len(CATEGORIES)), CATEGORIES),
    "conversion": (slice(1, 1 + len(CATEGORIES)), CATEGORIES),
    "fraud": (slice(_FRAUD_PAYMENT, _FRAUD_PAYMENT + len(PAYMENT_METHODS) + 1), (*PAYMENT_METHODS, "other")),
}
"""The one-hot block that names a row's segment per model (ad's campaign category, product category,
payment method), and the segment names: drift watchers track calibration per segment."""


def segment_of(model: str, row: Sequence[float]) -> str | None:
    """The segment of a feature row of ``model`` (None when the block is empty or the model has none).

    Examples
    --------
    >>> c = Campaign(campaign_id="c", ad_id="a", category="toys", locales=[], max_cpc=2, daily_budget=9, currency="USD")
    >>> from datetime import UTC
    >>> row = ctr_feature_block(channel="web", scene="search", ts=datetime(2026, 1, 1, tzinfo=UTC), locale="en",
    ...                         floor_cpm=1.0, context_category=None, campaigns=[c])[0]
    >>> segment_of("ctr", row), segment_of("ctr", [0.0] * N_CTR_FEATURES), segment_of("ctr", [1.0])
    ('toys', None, None)
    """
    if model not in SEGMENTS:
        return None
    block, names = SEGMENTS[model]
    values = list(row[block])
    if len(values) != len(names):
        return None
    best = max(range(len(values)), key=values.__getitem__)
    return names[best] if values[best] > 0 else None


def ctr_slot_context(row: Sequence[float]) -> tuple[str, bool]:
    """The scene of a ``ctr`` feature row and whether the ad's category matches the slot's (for reports).

    Examples
    --------
    >>> c = Campaign(campaign_id="c", ad_id="a", category="toys", locales=[], max_cpc=2, daily_budget=9, currency="USD")
    >>> from datetime import UTC
    >>> row = ctr_feature_block(channel="web", scene="product", ts=datetime(2026, 1, 1, tzinfo=UTC), locale="en",
    ...                         floor_cpm=1.0, context_category="toys", campaigns=[c])[0]
    >>> ctr_slot_context(row)
    ('product', True)
    """
    scenes = list(row[_CTR_SCENE : _CTR_SCENE + len(CTR_SCENES)])
    return CTR_SCENES[scenes.index(max(scenes))], bool(row[_CTR_MATCH] > 0)
