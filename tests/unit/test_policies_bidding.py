"""Bidding policy: the contract's bid bounds, eligibility, and budgets never overspent, paced through the day."""

from __future__ import annotations

import math
import random
from datetime import UTC, date, datetime, timedelta

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.bidding.budget import CPM_PER_UNIT, BudgetBook, spend_key
from agents.bidding.campaign_cache import CampaignCache
from agents.bidding.pacing import budget_share, budget_state, day_progress, pacing_multiplier
from agents.bidding.policy import bid_for, candidate_campaigns, choose_bid, presorted, rank_funded
from agents.catalog import CatalogStore
from agents.features import CTR_SCENES, N_CTR_FEATURES, ctr_feature_block, hour_of_day, locale_matches, one_hot
from schemas.catalog import Campaign
from schemas.common import CATEGORIES, KNOWN_CHANNELS
from schemas.errors import DecodeError
from schemas.reasons import Reason
from streams.settings import BiddingPolicy
from streams.topics import CAMPAIGNS

DAY = date(2026, 11, 23)
MIDNIGHT = datetime(2026, 11, 23, tzinfo=UTC)


def campaign(cid: str = "c", category: str = "toys", max_cpc: float = 1.0, budget: float = 20.0,
             locales: tuple[str, ...] = ()) -> Campaign:  # fmt: skip
    return Campaign(campaign_id=cid, ad_id=f"ad-{cid}", category=category, locales=list(locales), max_cpc=max_cpc,
                    daily_budget=budget, currency="USD")  # fmt: skip


def test_no_bid_when_the_floor_exceeds_what_the_campaign_can_pay() -> None:
    c = campaign(max_cpc=0.5)
    p_ctr = 0.02
    ceiling = CPM_PER_UNIT * p_ctr * c.max_cpc
    bid = choose_bid([c], [p_ctr], floor_cpm=ceiling + 0.01, headroom={"c": 100.0}, policy=BiddingPolicy())
    assert bid.bid_cpm == 0 and bid.campaign is None and bid.reasons == (Reason.BELOW_FLOOR.value,)


@settings(max_examples=500, deadline=None)
@given(
    st.lists(st.tuples(st.floats(0.01, 20.0), st.floats(0.0, 1.0), st.floats(-1.0, 50.0), st.floats(0.0, 1.0)),
             min_size=1, max_size=8),  # fmt: skip
    st.floats(0.0, 200.0),
    st.floats(0.05, 1.0),
    st.floats(0.05, 1.0),
)
def test_every_bid_is_zero_or_between_the_floor_and_the_contracts_cap(
    specs: list[tuple[float, float, float, float]], floor: float, value_share: float, shading: float
) -> None:
    campaigns = [campaign(cid=f"c{i}", max_cpc=cpc) for i, (cpc, _, _, _) in enumerate(specs)]
    p_ctrs = [p for _, p, _, _ in specs]
    headroom = {c.campaign_id: room for c, (_, _, room, _) in zip(campaigns, specs, strict=True)}
    pace = {c.campaign_id: m for c, (_, _, _, m) in zip(campaigns, specs, strict=True)}
    policy = BiddingPolicy(value_per_click_share=value_share, shading=shading)
    bid = choose_bid(campaigns, p_ctrs, floor_cpm=floor, headroom=headroom, policy=policy, pace=pace)
    if bid.bid_cpm == 0:
        assert bid.campaign is None and len(bid.reasons) == 1
        return
    assert bid.campaign is not None
    assert floor <= bid.bid_cpm <= CPM_PER_UNIT * bid.p_ctr * bid.campaign.max_cpc + 1e-9
    assert bid.bid_cpm / CPM_PER_UNIT <= headroom[bid.campaign.campaign_id] + 1e-12


def test_eligibility_by_category_and_locale_and_ranking_by_affinity() -> None:
    cs = [campaign("es", "toys", locales=("es-MX",)), campaign("zh", "toys", locales=("zh-CN",)),
          campaign("any-toys", "toys"), campaign("any-books", "books", max_cpc=3.0)]  # fmt: skip

    def funded(c: Campaign) -> bool:
        return True

    on_toys, _ = candidate_campaigns(cs, locale="es-ES", context_category="toys", has_budget=funded, affinity={},
                                     limit=8)  # fmt: skip
    assert [c.campaign_id for c in on_toys] == ["any-toys", "es"]
    anywhere, _ = candidate_campaigns(cs, locale="zh-CN", context_category=None, has_budget=funded,
                                      affinity={"toys": 5.0}, limit=8)  # fmt: skip
    assert [c.campaign_id for c in anywhere] == ["any-toys", "zh", "any-books"]
    cross, _ = candidate_campaigns(cs, locale="en-US", context_category="toys", has_budget=funded, affinity={},
                                   limit=8, match_category=False)  # fmt: skip
    assert [c.campaign_id for c in cross] == ["any-toys", "any-books"]


def test_a_spent_campaign_is_no_candidate() -> None:
    cs = [campaign("c")]
    spent = candidate_campaigns(cs, locale=None, context_category=None, has_budget=lambda c: False, affinity={},
                                limit=8)  # fmt: skip
    assert spent == ([], (Reason.BUDGET_SPENT.value,))


def test_pacing_multiplier_falls_as_spend_runs_ahead_of_the_day() -> None:
    assert day_progress(MIDNIGHT + timedelta(hours=6)) == 0.25
    multipliers = [pacing_multiplier(spent, 100.0, 0.25, 0.05) for spent in (0, 25, 26, 28, 30, 99, 100)]
    assert multipliers == sorted(multipliers, reverse=True)
    assert multipliers[:2] == [1.0, 1.0] and multipliers[-3:] == [0.0, 0.0, 0.0]


def test_budget_splits_over_partitions() -> None:
    assert budget_share(campaign(budget=90.0), BiddingPolicy(), 3) == 30.0


def simulate_day(policy: BiddingPolicy, step_s: int = 5, seed: int = 1) -> dict[str, object]:
    """One campaign bidding on a slot every ``step_s`` seconds; half the bids win (first price, notice next step)."""
    c = campaign(max_cpc=1.0, budget=20.0)
    book, rng = BudgetBook(), random.Random(seed)
    pending: list[tuple[str, float]] = []
    spend_at: dict[float, float] = {}
    max_bid, bids_after_spent, last_bid_s = 0.0, 0, 0
    for n, second in enumerate(range(0, 86_400, step_s)):
        for decision_id, cpm in pending:
            book.record_win(c.campaign_id, cpm, DAY, decision_id=decision_id)
        pending.clear()
        book.expire(second * 1000, int(policy.win_notice_timeout_s * 1000))
        exhausted = book.spent(c.campaign_id, DAY) >= c.daily_budget
        progress = second / 86_400
        headroom, pace = budget_state([c], book, day=DAY, partition=0, progress=progress,
                                      share_of={"c": c.daily_budget}, policy=policy)  # fmt: skip
        bid = choose_bid([c], [0.05], floor_cpm=1.0, headroom=headroom, policy=policy, pace=pace)
        if bid.bid_cpm > 0:
            bids_after_spent += exhausted
            max_bid, last_bid_s = max(max_bid, bid.bid_cpm), second
            decision_id = f"bid-{n}"
            book.reserve(decision_id, c.campaign_id, bid.bid_cpm / CPM_PER_UNIT, DAY, partition=0, ts_ms=second * 1000)
            if rng.random() < 0.5:
                pending.append((decision_id, bid.bid_cpm))
        spend_at[progress] = book.spent(c.campaign_id, DAY)
    return {"campaign": c, "spend_at": spend_at, "max_bid": max_bid, "bids_after_spent": bids_after_spent,
            "last_bid_s": last_bid_s, "spent": book.spent(c.campaign_id, DAY)}  # fmt: skip


def test_spend_never_overshoots_the_budget_and_bidding_stops_once_it_is_spent() -> None:
    run = simulate_day(BiddingPolicy(pacing=False))
    budget, one_bid = run["campaign"].daily_budget, run["max_bid"] / CPM_PER_UNIT
    assert max(run["spend_at"].values()) <= budget + one_bid
    assert run["bids_after_spent"] == 0
    assert run["last_bid_s"] < 6 * 3600  # unpaced, the budget is gone early in the day


def test_pacing_spreads_the_budget_over_the_whole_day() -> None:
    policy = BiddingPolicy(pacing_slack=0.05)
    run = simulate_day(policy)
    budget, one_bid = run["campaign"].daily_budget, run["max_bid"] / CPM_PER_UNIT
    for progress, spent in run["spend_at"].items():
        assert spent <= budget * (progress + policy.pacing_slack) + one_bid
    spent_by = {h: max(s for p, s in run["spend_at"].items() if p <= h / 24) for h in (6, 12, 18)}
    assert spent_by[6] == pytest.approx(budget * 0.25, rel=0.25)
    assert spent_by[12] == pytest.approx(budget * 0.5, rel=0.15)
    assert run["spent"] >= 0.95 * budget and run["spent"] <= budget + one_bid
    assert run["last_bid_s"] > 86_400 * (1 - 2 * policy.pacing_slack)  # the slack lets it finish a little early


def test_a_reservation_holds_budget_until_its_win_notice_or_timeout() -> None:
    book = BudgetBook()
    book.reserve("b1", "c", 0.4, DAY, partition=1, ts_ms=0)
    assert book.committed("c", DAY, 1) == 0.4 and book.committed("c", DAY, 0) == 0.0
    book.reserve("b1", "c", 0.4, DAY, partition=1, ts_ms=0)
    assert book.committed("c", DAY, 1) == 0.4  # the same decision again replaces its own
    book.record_win("c", 300.0, DAY, partition=1, decision_id="b1")
    assert book.committed("c", DAY, 1) == 0.3 and book.reservations == {}
    book.reserve("b2", "c", 0.5, DAY, partition=1, ts_ms=0)
    assert book.expire(now_ms=121_000, timeout_ms=120_000) == 1 and book.committed("c", DAY, 1) == 0.3


def test_bid_for_caps_at_the_contracts_ceiling() -> None:
    c = campaign(max_cpc=2.0)
    assert bid_for(0.1, c, BiddingPolicy(value_per_click_share=1.0, shading=1.0)) == pytest.approx(200.0)
    assert bid_for(0.1, c, BiddingPolicy(), shading=0.5) == pytest.approx(1000 * 0.1 * 2.0 * 0.6 * 0.5)


def ctr_row(*, channel: str, scene: str, ts: datetime, locale: str | None, floor_cpm: float,
            context_category: str | None, campaign: Campaign) -> list[float]:  # fmt: skip
    """The ctr features of one (slot, campaign) pair, spelled out column by column (the test's oracle)."""
    return [
        *one_hot(channel, KNOWN_CHANNELS),
        *one_hot(scene, CTR_SCENES, other=False),
        *one_hot(campaign.category, CATEGORIES, other=False),
        *one_hot(context_category, CATEGORIES, other=False),
        1.0 if context_category == campaign.category else 0.0,
        *hour_of_day(ts),
        math.log1p(floor_cpm),
        locale_matches(locale, campaign),
        math.log(campaign.max_cpc),
    ]


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(("web", "app", "store", "kiosk")),
    st.sampled_from(CTR_SCENES),
    st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)),
    st.sampled_from((None, "en-US", "zh-CN", "es-MX", "fr")),
    st.floats(0.0, 500.0),
    st.sampled_from((None, "unknown", *CATEGORIES)),
    st.lists(st.tuples(st.sampled_from(CATEGORIES), st.floats(0.01, 20.0),
                       st.sampled_from(((), ("en-US",), ("zh-CN", "es-ES")))), max_size=8),  # fmt: skip
)
def test_a_slots_feature_block_equals_its_rows_built_one_by_one(
    channel: str, scene: str, ts: datetime, locale: str | None, floor: float, category: str | None,
    specs: list[tuple[str, float, tuple[str, ...]]],
) -> None:  # fmt: skip
    campaigns = [campaign(f"c{i}", cat, cpc, locales=locales) for i, (cat, cpc, locales) in enumerate(specs)]
    slot = dict(channel=channel, scene=scene, ts=ts, locale=locale, floor_cpm=floor, context_category=category)
    block = ctr_feature_block(**slot, campaigns=campaigns)
    rows = np.asarray([ctr_row(**slot, campaign=c) for c in campaigns], dtype=np.float32)
    assert block.shape == (len(campaigns), N_CTR_FEATURES)
    assert block.tobytes() == rows.reshape(-1, N_CTR_FEATURES).tobytes()


def test_the_campaign_cache_follows_catalog_changes() -> None:
    catalog = CatalogStore()
    cache = CampaignCache(BiddingPolicy(), partitions=2)

    def put(c: Campaign) -> None:
        catalog.apply(CAMPAIGNS, c.campaign_id.encode(), orjson.dumps(c.model_dump(mode="json")))

    put(campaign("a", "toys", locales=("en-US",)))
    put(campaign("b", "books"))
    assert [c.campaign_id for c in cache.pool(catalog, "en-GB", "toys")] == ["a"]
    assert [c.campaign_id for c in cache.pool(catalog, "zh-CN", None)] == ["b"]
    put(campaign("a", "toys", budget=80.0))
    assert cache.shares(catalog)["a"] == 40.0
    assert [c.campaign_id for c in cache.pool(catalog, "zh-CN", None)] == ["a", "b"]
    catalog.apply(CAMPAIGNS, b"a", None)
    assert [c.campaign_id for c in cache.pool(catalog, "en-GB", "toys")] == []
    with pytest.raises(DecodeError):
        catalog.apply(CAMPAIGNS, b"x", b"{")
    assert "x" not in cache.shares(catalog)


def test_ranking_a_presorted_pool_equals_ranking_it_from_scratch() -> None:
    rng = random.Random(5)
    categories = list(CATEGORIES[:4])
    for _ in range(500):
        pool = [campaign(f"c{i}", rng.choice(categories), max_cpc=rng.choice([0.5, 1.0, 2.0]))
                for i in range(rng.randrange(0, 12))]  # fmt: skip
        context = rng.choice([*categories, None])
        affinity = {c: rng.choice([0.0, 0.5, 1.0, 2.5]) for c in rng.sample(categories, rng.randrange(0, 4))}
        funded = {c.campaign_id for c in pool if rng.random() < 0.8}
        limit = rng.randrange(1, 6)

        def rank(targeted: list[Campaign], is_presorted: bool) -> tuple[list[Campaign], tuple[str, ...]]:
            return rank_funded(targeted, context_category=context, has_budget=lambda c: c.campaign_id in funded,
                               affinity=affinity, limit=limit, is_presorted=is_presorted)  # fmt: skip

        assert rank(presorted(rng.sample(pool, len(pool)), context), True) == rank(pool, False)


def test_a_slots_committed_amounts_at_once_equal_one_by_one() -> None:
    book = BudgetBook()
    rng = random.Random(9)
    ids = [f"c{i}" for i in range(6)]
    for n in range(200):
        cid, partition = rng.choice(ids), rng.randrange(2)
        if rng.random() < 0.5:
            book.reserve(f"bid-{n}", cid, rng.random(), DAY, partition=partition, ts_ms=n)
        else:
            book.record_win(cid, rng.random() * 1000, DAY, partition=partition,
                            decision_id=f"bid-{rng.randrange(n + 1)}")  # fmt: skip
        excluding = rng.choice([None, f"bid-{rng.randrange(n + 1)}"])
        assert book.committed_many(ids, DAY, partition, excluding) == [
            book.committed(c, DAY, partition, excluding=excluding) for c in ids
        ]


def test_cached_committed_amounts_follow_every_reservation_win_and_expiry() -> None:
    book = BudgetBook()
    rng = random.Random(11)
    ids = [f"c{i}" for i in range(4)]

    def expected(cid: str, partition: int) -> float:
        key = spend_key(cid, DAY, partition)
        reserved = sum(r.amount for r in book.reservations.values() if r.key == key)
        return book.spent(cid, DAY, partition) + reserved

    for n in range(400):
        cid, partition, roll = rng.choice(ids), rng.randrange(2), rng.random()
        if roll < 0.45:
            book.reserve(f"bid-{n}", cid, rng.random(), DAY, partition=partition, ts_ms=n)
        elif roll < 0.9:
            book.record_win(cid, rng.random() * 1000, DAY, partition=partition,
                            decision_id=f"bid-{rng.randrange(n + 1)}")  # fmt: skip
        else:
            book.expire(now_ms=n, timeout_ms=rng.randrange(50))
        for c in ids:
            assert book.committed(c, DAY, partition) == pytest.approx(expected(c, partition), abs=1e-6)


def test_a_spend_table_changed_behind_the_book_counts_once_the_cache_is_forgotten() -> None:
    book = BudgetBook()
    assert book.committed("c", DAY, 0) == 0.0
    book.spend.put(spend_key("c", DAY, 0), 2.5, origin=None)  # as a changelog recovery writes the table
    book.forget_committed()
    assert book.committed("c", DAY, 0) == 2.5


def test_the_campaign_cache_knows_which_pools_mix_categories() -> None:
    catalog = CatalogStore()
    cache = CampaignCache(BiddingPolicy(), partitions=1)
    for c in (campaign("a", "toys"), campaign("b", "books"), campaign("c", "toys")):
        catalog.apply(CAMPAIGNS, c.campaign_id.encode(), orjson.dumps(c.model_dump(mode="json")))
    assert not cache.mixes_categories(catalog, "en-US", "toys")
    assert cache.mixes_categories(catalog, "en-US", None)
    catalog.apply(CAMPAIGNS, b"b", None)
    assert not cache.mixes_categories(catalog, "en-US", None)
