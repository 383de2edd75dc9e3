"""Random draws shared by the event generator and the training datasets.

Both sides draw users, categories, prices, ad contexts and orders through these
functions, so the models are trained on the distribution the generator emits.
Draws use :class:`random.Random` (fast scalar draws, reproducible for a seed).
"""

from __future__ import annotations

import random
from bisect import bisect_right
from dataclasses import dataclass
from itertools import accumulate
from collections.abc import Sequence
from typing import Final, NamedTuple, TypeVar

from schemas.catalog import Product
from schemas.common import CATEGORIES, KNOWN_CHANNELS
from streams.synthetic.vocabulary import (
    BRANDS,
    LANGUAGES,
    MODIFIERS,
    PAGES,
    PRODUCT_NOUNS,
    category_page,
    compose_query,
)
from streams.synthetic.world import COUNTRY_WEIGHTS, User, World, opaque_hash

T = TypeVar("T")


@dataclass(frozen=True)
class Weighted:
    """Options with cumulative weights, ready for fast repeated draws."""

    options: tuple[str, ...]
    cum_weights: tuple[float, ...]

    @classmethod
    def of(cls, weights: dict[str, float]) -> Weighted:
        """From ``{option: weight}``."""
        return cls(tuple(weights), tuple(accumulate(weights.values())))


SCENES: Final[tuple[str, ...]] = ("search", "browse", "product")

LIST_PRICE_SHARE: Final = 0.5
"""Share of views shown at list price; the rest see a price drawn in [min_price, max_price]."""

FLOOR_CPM_MEDIAN: Final[dict[str, float]] = {"search": 2.0, "browse": 0.6, "product": 0.8}
FLOOR_CPM_SPREAD: Final = 0.5
TMAX_MS_CHOICES: Final[tuple[int, ...]] = (50, 80, 100, 120)

CAMPAIGN_MATCH_SHARE: Final = 0.6
"""Share of wins where the shown campaign is of the page's category (the rest: any campaign)."""

QUERY_ENGLISH_SHARE: Final = 0.1
"""Share of searches by non-English speakers typed in English anyway."""
QUERY_BRAND_SHARE: Final = 0.35
QUERY_MODIFIER_SHARE: Final = 0.25
CATEGORY_PAGE_SHARE: Final = 0.6

QUANTITIES: Final[tuple[int, ...]] = (1, 2, 3, 4)
QUANTITY_CUM_WEIGHTS: Final[tuple[float, ...]] = tuple(accumulate((0.85, 0.1, 0.04, 0.01)))
"""Cumulative probabilities of :data:`QUANTITIES` for one order line."""
EXTRA_ITEM_SHARE: Final = 0.15

HOME_COUNTRY_SHARE: Final = 0.95
OTHER_COUNTRIES: Final[dict[str, tuple[str, ...]]] = {
    c: tuple(o for o in COUNTRY_WEIGHTS if o != c) for c in COUNTRY_WEIGHTS
}
SHIP_HOME_SHARE: Final = 0.97
PAYMENT_MIX: Final[dict[str, Weighted]] = {
    "zh": Weighted.of({"wallet": 0.70, "card": 0.20, "cod": 0.05, "bank_transfer": 0.03, "gift_card": 0.02}),
    "default": Weighted.of({"card": 0.65, "wallet": 0.20, "cod": 0.05, "bank_transfer": 0.05, "gift_card": 0.05}),
}
CARD_HASH_SHARE: Final[dict[str, float]] = {"card": 0.99, "wallet": 0.85}
"""Share of legitimate payments that carry a card fingerprint, per method (others never do)."""

FRAUD_CHANNEL_WEIGHTS: Final = Weighted.of({"web": 0.5, "app": 0.2, "partner": 0.3})
FRAUD_IP_COUNTRIES: Final[tuple[str, ...]] = ("RU", "NG", "VN", "BR", "UA", "ID", "RO", "PK")
FRAUD_FOREIGN_IP_SHARE: Final = 0.7
FRAUD_DROP_SHARE: Final = 0.85
"""Share of fraud orders shipped to a country other than the card's."""
FRAUD_PAYMENT_MIX: Final = Weighted.of({"card": 0.45, "gift_card": 0.30, "wallet": 0.20, "bank_transfer": 0.05})
FRAUD_MISSING_HASH_SHARE: Final = 0.6
FRAUD_CATEGORIES: Final = Weighted.of({"electronics": 0.7, "fashion": 0.15, "beauty": 0.15})
FRAUD_ITEMS: Final = (1, 3)
FRAUD_QUANTITY: Final = (1, 3)
FRAUD_ORDER_SHARE: Final = 0.003
"""Share of all orders placed by fraudsters (they arrive in proportion to legitimate orders)."""


class OrderLine(NamedTuple):
    """One line of a drawn basket."""

    product: int
    quantity: int
    unit_price: float


class OrderDraw(NamedTuple):
    """Everything about an order that is drawn rather than read from the session."""

    lines: tuple[OrderLine, ...]
    amount: float
    payment_method: str
    card_hash: str | None
    card_bin: str | None
    billing_country: str
    shipping_country: str
    account_age_days: int
    ip_hash: str


def choose(rng: random.Random, options: Sequence[T], cum_weights: Sequence[float]) -> T:
    """One of ``options`` given cumulative weights (what ``rng.choices(...)[0]`` does, faster).

    Examples
    --------
    >>> choose(random.Random(0), "ab", (0.0, 1.0))
    'b'
    """
    return options[bisect_right(cum_weights, rng.random() * cum_weights[-1])]


def pick(rng: random.Random, weighted: Weighted) -> str:
    """One option, with probability proportional to its weight.

    Examples
    --------
    >>> pick(random.Random(0), Weighted.of({"a": 1.0, "b": 0.0}))
    'a'
    """
    return choose(rng, weighted.options, weighted.cum_weights)


def draw_user(rng: random.Random, world: World) -> User:
    """A legitimate user, weighted by activity."""
    return choose(rng, world.users, world.user_cum_activity)


def draw_fraudster(rng: random.Random, world: World) -> User:
    """A fraudster, uniformly."""
    return world.fraudsters[rng.randrange(len(world.fraudsters))]


def draw_channel(rng: random.Random, user: User) -> str:
    """The channel of one session."""
    if user.is_fraudster:
        return pick(rng, FRAUD_CHANNEL_WEIGHTS)
    return choose(rng, KNOWN_CHANNELS, user.channel_cum_weights)


def draw_session_country(rng: random.Random, user: User) -> str:
    """Where the session's requests come from (mostly the user's home)."""
    if user.is_fraudster:
        return rng.choice(FRAUD_IP_COUNTRIES) if rng.random() < FRAUD_FOREIGN_IP_SHARE else user.country
    if rng.random() < HOME_COUNTRY_SHARE:
        return user.country
    return rng.choice(OTHER_COUNTRIES[user.country])


def draw_category(rng: random.Random, user: User) -> str:
    """A category the user is interested in right now."""
    return choose(rng, CATEGORIES, user.category_cum_weights)


def draw_product(rng: random.Random, world: World, category: str) -> int:
    """Index of a product of ``category``."""
    candidates = world.products_by_category[category]
    return candidates[rng.randrange(len(candidates))]


def draw_shown_price(rng: random.Random, product: Product) -> float:
    """The price a view shows: list price, or a randomised test price within the bounds.

    Examples
    --------
    >>> p = Product(product_id="p", title="t", category="home", currency="USD", list_price=10,
    ...             unit_cost=5, min_price=8, max_price=12, stock=3)
    >>> all(8 <= draw_shown_price(random.Random(s), p) <= 12 for s in range(50))
    True
    """
    if rng.random() < LIST_PRICE_SHARE:
        return product.list_price
    return round(rng.uniform(product.min_price, product.max_price), 2)


def draw_floor_cpm(rng: random.Random, scene: str) -> float:
    """Floor price (CPM, USD) of an ad slot in ``scene``."""
    return round(FLOOR_CPM_MEDIAN[scene] * rng.lognormvariate(0.0, FLOOR_CPM_SPREAD), 2)


def draw_tmax_ms(rng: random.Random) -> int:
    """The exchange's response deadline for one slot."""
    return rng.choice(TMAX_MS_CHOICES)


def draw_page(rng: random.Random, category: str) -> tuple[str, str | None]:
    """A browsed page: the page of ``category`` or a page without category.

    Examples
    --------
    >>> page, cat = draw_page(random.Random(1), "toys")
    >>> (page, cat) in {("/c/toys", "toys")} or cat is None
    True
    """
    if rng.random() < CATEGORY_PAGE_SHARE:
        return category_page(category), category
    return rng.choice(PAGES), None


def draw_query(rng: random.Random, user: User, category: str) -> str:
    """A search query for ``category`` in the user's language (sometimes English)."""
    language = user.language if user.language in LANGUAGES else "en"
    if language != "en" and rng.random() < QUERY_ENGLISH_SHARE:
        language = "en"
    noun = rng.choice(PRODUCT_NOUNS[language][category])
    brand = rng.choice(BRANDS[category]) if rng.random() < QUERY_BRAND_SHARE else None
    modifier = rng.choice(MODIFIERS[language]) if rng.random() < QUERY_MODIFIER_SHARE else None
    return compose_query(noun, brand, modifier, language)


def choose_campaign(rng: random.Random, world: World, context_category: str | None) -> int:
    """Index of the campaign shown on a won slot: usually one of the page's category."""
    if context_category is not None and rng.random() < CAMPAIGN_MATCH_SHARE:
        candidates = world.campaigns_by_category[context_category]
        if candidates:
            return candidates[rng.randrange(len(candidates))]
    return rng.randrange(len(world.campaigns))


def draw_quantity(rng: random.Random) -> int:
    """Quantity of one order line."""
    return choose(rng, QUANTITIES, QUANTITY_CUM_WEIGHTS)


def draw_basket(rng: random.Random, world: World, user: User, first: OrderLine) -> tuple[OrderLine, ...]:
    """The lines of an order: the converted product, sometimes one more (or a fraudster's loot)."""
    if user.is_fraudster:
        lines = [first]
        for _ in range(rng.randint(*FRAUD_ITEMS) - 1):
            product = draw_product(rng, world, pick(rng, FRAUD_CATEGORIES))
            lines.append(OrderLine(product, rng.randint(*FRAUD_QUANTITY), world.products[product].list_price))
        return tuple(lines)
    if rng.random() < EXTRA_ITEM_SHARE:
        product = draw_product(rng, world, draw_category(rng, user))
        return first, OrderLine(product, draw_quantity(rng), world.products[product].list_price)
    return (first,)


def draw_first_line(rng: random.Random, world: World, user: User) -> OrderLine:
    """The product a purchase starts from, when no session provides it (datasets, fraud sessions)."""
    if user.is_fraudster:
        product = draw_product(rng, world, pick(rng, FRAUD_CATEGORIES))
        return OrderLine(product, rng.randint(*FRAUD_QUANTITY), world.products[product].list_price)
    product = draw_product(rng, world, draw_category(rng, user))
    return OrderLine(product, draw_quantity(rng), draw_shown_price(rng, world.products[product]))


def draw_order(rng: random.Random, world: World, user: User, first: OrderLine, elapsed_days: int) -> OrderDraw:
    """Basket, payment and addresses of an order by ``user``.

    Parameters
    ----------
    first
        The line the purchase started from (the converted view).
    elapsed_days
        Days since the world's epoch, added to the account age.
    """
    lines = draw_basket(rng, world, user, first)
    amount = round(sum(line.quantity * line.unit_price for line in lines), 2)
    if user.is_fraudster:
        method = pick(rng, FRAUD_PAYMENT_MIX)
        stolen = opaque_hash("stolen", rng.getrandbits(64))
        card_hash = None if rng.random() < FRAUD_MISSING_HASH_SHARE else stolen
        billing = user.country
        shipping = rng.choice(FRAUD_IP_COUNTRIES) if rng.random() < FRAUD_DROP_SHARE else billing
    else:
        method = pick(rng, PAYMENT_MIX.get(user.language, PAYMENT_MIX["default"]))
        card_hash = user.card_hash if rng.random() < CARD_HASH_SHARE.get(method, 0.0) else None
        billing = user.country
        shipping = billing if rng.random() < SHIP_HOME_SHARE else rng.choice(OTHER_COUNTRIES[billing])
    return OrderDraw(
        lines=lines,
        amount=amount,
        payment_method=method,
        card_hash=card_hash if method in CARD_HASH_SHARE else None,
        card_bin=user.card_bin if method == "card" else None,
        billing_country=billing,
        shipping_country=shipping,
        account_age_days=user.account_age_days + elapsed_days,
        ip_hash=opaque_hash("ip", rng.getrandbits(64)) if user.is_fraudster else user.ip_hash,
    )
