"""Field types shared by events, catalog records and decisions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

CATEGORIES: tuple[str, ...] = ("electronics", "fashion", "home", "beauty", "sports", "grocery", "toys", "books")
"""The eight product categories of DESIGN.md §3, in model output order."""

Category = Literal["electronics", "fashion", "home", "beauty", "sports", "grocery", "toys", "books"]
KNOWN_CHANNELS: tuple[str, ...] = ("web", "app", "mini_program", "store", "partner")

Id = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$")]
ShortText = Annotated[str, Field(max_length=512)]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
CountryCode = Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
Locale = Annotated[str, Field(max_length=35, pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")]
Channel = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[a-z][a-z_]*$")]
Money = Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False)]
PositiveMoney = Annotated[float, Field(gt=0, le=1e9, allow_inf_nan=False)]
Probability = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]

_EPOCH_MS_MIN = 946_684_800_000  # 2000-01-01
_EPOCH_MS_MAX = 4_102_444_800_000  # 2100-01-01


def _epoch_ms_to_datetime(value: object) -> object:
    """Accept epoch milliseconds as well as ISO-8601 strings (DESIGN.md §2)."""
    if isinstance(value, bool):
        raise ValueError("timestamp must be ISO-8601 with zone or epoch milliseconds, not a boolean")
    if isinstance(value, int | float):
        if not _EPOCH_MS_MIN <= value <= _EPOCH_MS_MAX:
            raise ValueError("epoch milliseconds outside 2000..2100")
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    return value


def _require_zone_in_range(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamp needs a time zone")
    if not 2000 <= value.astimezone(UTC).year < 2100:
        raise ValueError("timestamp outside 2000..2100")
    return value


Timestamp = Annotated[datetime, BeforeValidator(_epoch_ms_to_datetime), AfterValidator(_require_zone_in_range)]


class Record(BaseModel):
    """Base of every message: immutable, unknown fields ignored, no NaN/Infinity."""

    model_config = ConfigDict(frozen=True, extra="ignore", ser_json_inf_nan="null", str_max_length=4096)
