"""Stable reason codes carried by decisions (``reasons[]``) and DLQ records."""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    """Why a decision came out as it did. Codes are stable: consumers match on them."""

    MODEL = "model"
    TRITON_UNAVAILABLE = "triton_unavailable"
    TRITON_TIMEOUT = "triton_timeout"
    CIRCUIT_OPEN = "circuit_open"
    FALLBACK_RULE = "fallback_rule"
    NO_CAMPAIGN = "no_campaign"
    BELOW_FLOOR = "below_floor"
    BUDGET_SPENT = "budget_spent"
    DEADLINE = "deadline"
    UNKNOWN_PRODUCT = "unknown_product"
    MAX_CHANGE = "max_change"
    MARGIN_FLOOR = "margin_floor"
    LIST_PRICE = "list_price"
    OPTIMISED = "optimised"
    HIGH_RISK = "high_risk"
    MEDIUM_RISK = "medium_risk"
    LOW_RISK = "low_risk"
    NEW_ACCOUNT_HIGH_AMOUNT = "new_account_high_amount"
    COUNTRY_MISMATCH = "country_mismatch"
    HIGH_AMOUNT = "high_amount"
    NO_CARD_HASH = "no_card_hash"
    PACED = "paced"
    VELOCITY_ORDERS_1H = "velocity_orders_1h"
    VELOCITY_ORDERS_24H = "velocity_orders_24h"
    VELOCITY_CARDS_24H = "velocity_cards_24h"
    VELOCITY_COUNTRIES_24H = "velocity_countries_24h"
    VELOCITY_AMOUNT_24H = "velocity_amount_24h"
    AMOUNT_SPIKE = "amount_spike"
    NEW_CARD = "new_card"
    PRIOR_CHARGEBACK = "prior_chargeback"
    FEATURE_AMOUNT = "feature_amount"
    FEATURE_ITEMS = "feature_items"
    FEATURE_ACCOUNT_AGE = "feature_account_age"
    FEATURE_BILLING_MISMATCH = "feature_billing_mismatch"
    FEATURE_IP_COUNTRY_MISMATCH = "feature_ip_country_mismatch"
    FEATURE_MISSING_CARD_HASH = "feature_missing_card_hash"
    FEATURE_PAYMENT_METHOD = "feature_payment_method"
    FEATURE_CHANNEL = "feature_channel"
    EXPLORED = "explored"
    INTENT_UNAVAILABLE = "intent_unavailable"
    LOW_INTENT_CONFIDENCE = "low_intent_confidence"


class DlqReason(StrEnum):
    """Why an input message could not be used."""

    TOO_LARGE = "too_large"
    INVALID_UTF8 = "invalid_utf8"
    INVALID_JSON = "invalid_json"
    NOT_AN_OBJECT = "not_an_object"
    UNKNOWN_KIND = "unknown_kind"
    WRONG_TOPIC = "kind_not_allowed_on_topic"
    VALIDATION = "validation_error"
    CATALOG_INVALID = "catalog_invalid"
